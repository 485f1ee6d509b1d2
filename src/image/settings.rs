//! The image config knobs a user sets (in a spec, a recipe or on the command
//! line) and how they apply over a base image's config, following Docker's
//! rules: env entries replace by key, labels by key, ports and volumes add
//! up, and a new entrypoint clears an inherited cmd.

use std::collections::BTreeMap;

use oci_spec::image::Config;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ImageSettings {
    /// `KEY=value` entries, or a map in specs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// `80/tcp`, `53/udp`; a bare number means tcp.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exposed_ports: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map_or(e, |(k, _)| k)
}

impl ImageSettings {
    /// Applies these settings over `config` (usually the base image's).
    pub fn apply(&self, config: &mut Config) {
        if !self.env.is_empty() {
            let mut env = config.env().clone().unwrap_or_default();
            for e in &self.env {
                match env.iter_mut().find(|old| env_key(old) == env_key(e)) {
                    Some(old) => *old = e.clone(),
                    None => env.push(e.clone()),
                }
            }
            config.set_env(Some(env));
        }
        // An empty list given clears the field (`null`), as rockcraft's
        // `entrypoint-command: "[ ]"` does, rather than writing `[]`.
        let set = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        if let Some(ep) = &self.entrypoint {
            config.set_entrypoint(set(ep));
            if self.cmd.is_none() {
                config.set_cmd(None);
            }
        }
        if let Some(cmd) = &self.cmd {
            config.set_cmd(set(cmd));
        }
        if let Some(w) = &self.working_dir {
            config.set_working_dir(Some(w.clone()));
        }
        if let Some(u) = &self.user {
            config.set_user(Some(u.clone()));
        }
        if !self.labels.is_empty() {
            let mut labels = config.labels().clone().unwrap_or_default();
            labels.extend(self.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
            config.set_labels(Some(labels));
        }
        let union = |old: &Option<Vec<String>>, new: Vec<String>| {
            let mut all: Vec<String> = old.clone().unwrap_or_default();
            all.extend(new);
            all.sort();
            all.dedup();
            all
        };
        if !self.exposed_ports.is_empty() {
            let ports = self.exposed_ports.iter().map(|p| if p.contains('/') { p.clone() } else { format!("{p}/tcp") });
            config.set_exposed_ports(Some(union(config.exposed_ports(), ports.collect())));
        }
        if !self.volumes.is_empty() {
            config.set_volumes(Some(union(config.volumes(), self.volumes.clone())));
        }
        if let Some(s) = &self.stop_signal {
            config.set_stop_signal(Some(s.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_merge_over_a_base_config_like_docker() {
        let mut c = Config::default();
        c.set_env(Some(vec!["PATH=/bin".into(), "LANG=C".into()]));
        c.set_cmd(Some(vec!["sh".into()]));
        let s = ImageSettings {
            env: vec!["PATH=/usr/bin:/bin".into(), "APP=1".into()],
            entrypoint: Some(vec!["/app".into()]),
            exposed_ports: vec!["8080".into()],
            ..Default::default()
        };
        s.apply(&mut c);
        assert_eq!(c.env().as_deref().unwrap(), ["PATH=/usr/bin:/bin", "LANG=C", "APP=1"]);
        assert_eq!(c.entrypoint().as_deref().unwrap(), ["/app"]);
        assert_eq!(c.cmd(), &None, "a new entrypoint clears the inherited cmd");
        assert_eq!(c.exposed_ports().as_deref().unwrap(), ["8080/tcp"]);
        let clear = ImageSettings { entrypoint: Some(Vec::new()), cmd: Some(Vec::new()), ..Default::default() };
        let mut c = Config::default();
        c.set_cmd(Some(vec!["bash".into()]));
        clear.apply(&mut c);
        assert_eq!((c.entrypoint(), c.cmd()), (&None, &None), "empty lists clear the base's, as null");
    }
}
