//! Build secrets (`--secret id=ID,src=FILE`, as `docker buildx build` and
//! `buildah build` take them): a token or key a step needs — to fetch from
//! a private index, say — that must reach no layer, no log and no key.
//!
//! A step asks for secrets by id (`ExecOp::secrets`, filled by the
//! frontend). The local worker binds each one read-only at
//! `/run/secrets/<id>` ([`SECRETS_DIR`]); a secret taken from an environment
//! variable is written to a mode-0400 file in the job's private work dir
//! first. Mounts are never captured, and the step key holds only the id
//! (`secret:<id>`), so a changed secret does not rerun a step and the value
//! is in no cache record.
//!
//! | `--secret` | source |
//! |---|---|
//! | `id=ID,src=FILE` (or `source=FILE`) | the file |
//! | `id=ID,env=VAR` | the variable's value |
//! | `id=ID,type=env` | the variable `ID` |
//! | `ID` alone | the variable `ID` when it is set, else the file `ID` (buildx's rule) |

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

pub use strata_frontend_api::graph::SECRETS_DIR;

/// One secret the user gave.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    pub id: String,
    pub source: SecretSource,
}

/// Where a secret's bytes are.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file on the host, bound as it is (read when the step reads it).
    File(PathBuf),
    /// A value (from an environment variable), written to a private file.
    Value(Vec<u8>),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret").field("id", &self.id).field("source", &self.source).finish()
    }
}

impl fmt::Debug for SecretSource {
    /// Never prints a value: debug output ends up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::File(p) => f.debug_tuple("File").field(p).finish(),
            SecretSource::Value(v) => write!(f, "Value(<{} bytes>)", v.len()),
        }
    }
}

/// The secrets of one build, by id.
#[derive(Debug, Clone, Default)]
pub struct Secrets(BTreeMap<String, SecretSource>);

impl Secrets {
    /// Refuses an id given twice (buildx keeps the last silently; a typo in
    /// a CI script should not decide which token a step gets).
    pub fn new(list: impl IntoIterator<Item = Secret>) -> Result<Self, SecretError> {
        let mut map = BTreeMap::new();
        for s in list {
            if map.insert(s.id.clone(), s.source).is_some() {
                return Err(SecretError::Duplicate { id: s.id });
            }
        }
        Ok(Secrets(map))
    }

    pub fn ids(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    pub fn get(&self, id: &str) -> Option<&SecretSource> {
        self.0.get(id)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What can be wrong with a secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("--secret {given:?}: {reason} (expected id=ID,src=FILE or id=ID,env=VARIABLE)")]
    Malformed { given: String, reason: String },
    #[error("--secret {id}: the file {path} does not exist")]
    NoFile { id: String, path: PathBuf },
    #[error("--secret {id}: the environment variable {variable} is not set")]
    NoVariable { id: String, variable: String },
    #[error("--secret {id} is given twice")]
    Duplicate { id: String },
    #[error("step {step} asks for the secret {id:?}, which was not given (add --secret id={id},src=FILE)")]
    Missing { step: String, id: String },
    #[error(
        "step {step} needs the secrets {ids:?}, and secrets are not sent to a remote farm: \
         build it locally, or without --secret"
    )]
    NotRemote { step: String, ids: Vec<String> },
    #[error("--secret cannot be used with --remote: a farm's workers and caches would see the secret")]
    RemoteBuild,
}

/// An id names a file under `/run/secrets`: one path component.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Parses one `--secret` (a clap value parser).
pub fn parse_secret(given: &str) -> Result<Secret, SecretError> {
    parse_with(given, &|v| std::env::var_os(v))
}

fn parse_with(given: &str, env: &dyn Fn(&str) -> Option<std::ffi::OsString>) -> Result<Secret, SecretError> {
    let bad = |reason: &str| SecretError::Malformed { given: given.to_owned(), reason: reason.to_owned() };
    let (mut id, mut src, mut var, mut kind) = (None, None, None, None);
    if !given.contains('=') {
        id = Some(given.to_owned());
    } else {
        for field in given.split(',') {
            let (k, v) = field.split_once('=').ok_or_else(|| bad(&format!("{field:?} is not KEY=VALUE")))?;
            let slot = match k {
                "id" => &mut id,
                "src" | "source" => &mut src,
                "env" => &mut var,
                "type" => &mut kind,
                _ => return Err(bad(&format!("unknown key {k:?}"))),
            };
            if slot.replace(v.to_owned()).is_some() {
                return Err(bad(&format!("{k} is given twice")));
            }
        }
    }
    let id = id
        .or_else(|| src.as_deref().or(var.as_deref()).map(|s| base_name(s).to_owned()))
        .ok_or_else(|| bad("no id"))?;
    if !valid_id(&id) {
        return Err(bad(&format!("the id {id:?} must be letters, digits, '-', '_' or '.'")));
    }
    let from_env = |variable: &str| match env(variable) {
        Some(v) => Ok(SecretSource::Value(std::os::unix::ffi::OsStringExt::into_vec(v))),
        None => Err(SecretError::NoVariable { id: id.clone(), variable: variable.to_owned() }),
    };
    let from_file = |path: &str| {
        let p = PathBuf::from(path);
        if p.is_file() {
            Ok(SecretSource::File(std::path::absolute(&p).unwrap_or(p)))
        } else {
            Err(SecretError::NoFile { id: id.clone(), path: p })
        }
    };
    let source = match (kind.as_deref(), &src, &var) {
        (_, Some(_), Some(_)) => return Err(bad("src and env exclude each other")),
        (Some("file"), None, Some(_)) | (Some("env"), Some(_), None) => {
            return Err(bad("type does not match src/env"));
        }
        (Some(t), _, _) if t != "file" && t != "env" => return Err(bad(&format!("unknown type {t:?}"))),
        (_, Some(f), None) => from_file(f)?,
        (_, None, Some(v)) => from_env(v)?,
        (Some("env"), None, None) => from_env(&id)?,
        (Some(_), None, None) => from_file(&id)?,
        (None, None, None) => match env(&id) {
            Some(_) => from_env(&id)?,
            None => from_file(&id)?,
        },
    };
    Ok(Secret { id, source })
}

fn base_name(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<std::ffi::OsString> {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.into())
    }

    #[test]
    fn a_file_and_a_variable_as_buildx_writes_them() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let path = f.path().to_str().unwrap();
        let s = parse_with(&format!("id=token,src={path}"), &env(&[])).unwrap();
        assert_eq!(s, Secret { id: "token".into(), source: SecretSource::File(f.path().into()) });
        let s = parse_with("id=npm,env=NPM_TOKEN", &env(&[("NPM_TOKEN", "t0k")])).unwrap();
        assert_eq!(s.source, SecretSource::Value(b"t0k".to_vec()));
        let s = parse_with("id=NPM_TOKEN,type=env", &env(&[("NPM_TOKEN", "t0k")])).unwrap();
        assert_eq!(s.source, SecretSource::Value(b"t0k".to_vec()));
        // A bare id is the variable when set, else the file.
        assert_eq!(parse_with("GH", &env(&[("GH", "x")])).unwrap().source, SecretSource::Value(b"x".to_vec()));
        assert!(matches!(parse_with("GH", &env(&[])), Err(SecretError::NoFile { .. })));
        // No id: the file's name.
        assert_eq!(parse_with(&format!("src={path}"), &env(&[])).unwrap().id, base_name(path));
    }

    #[test]
    fn bad_secrets_say_what_is_wrong() {
        let e = |s: &str| parse_with(s, &env(&[])).unwrap_err().to_string();
        assert!(e("id=a,src=/nonexistent/x").contains("/nonexistent/x does not exist"));
        assert!(e("id=a,env=UNSET_VAR").contains("UNSET_VAR is not set"));
        assert!(e("id=a,colour=red").contains("unknown key \"colour\""));
        assert!(e("id=../etc,env=X").contains("must be letters"));
        assert!(e("id=a,src=f,env=X").contains("exclude each other"));
        assert!(e("id=a,id=b").contains("id is given twice"));
    }

    #[test]
    fn an_id_given_twice_is_refused() {
        let v = |id: &str| Secret { id: id.into(), source: SecretSource::Value(b"v".to_vec()) };
        assert!(matches!(Secrets::new([v("a"), v("a")]), Err(SecretError::Duplicate { .. })));
        assert_eq!(Secrets::new([v("b"), v("a")]).unwrap().ids(), ["a", "b"]);
    }

    #[test]
    fn debug_output_never_shows_a_value() {
        let s = Secret { id: "t".into(), source: SecretSource::Value(b"hunter2".to_vec()) };
        let shown = format!("{s:?} {:?}", Secrets::new([s.clone()]).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<7 bytes>"), "{shown}");
    }
}
