//! `craft.run-user`: rockcraft's `run-user` (`oci.Image.add_user`): a layer
//! holding `/etc/passwd` and `/etc/group` (and `/etc/shadow` when there is
//! one, with something in it) as the image shows them, with the shared
//! user and its group appended:
//!
//! ```text
//! _daemon_:x:584792:584792::/var/lib/pebble/default:/usr/bin/false
//! _daemon_:x:584792:
//! _daemon_:!:<days>::::::
//! ```
//!
//! Inputs: the `etc` directory of every layer the image has below this
//! one, bottom to top: the base's (when the base is not bare; an image's
//! layers merged, see [`super::stack`]), each overlay layer's, each part's
//! prime (`root/prime/etc`). The topmost layer that has a file, or deletes
//! it, decides (rockcraft: the prime's, else the base's unless the overlay
//! deleted it, else none). A name or uid the files already have is an
//! error, as in rockcraft.
//!
//! Differences from rockcraft, both for the same bytes on every build:
//! the shadow line's day of the last password change is the project's
//! `source-date-epoch` in days, or empty (no aging) without one (rockcraft
//! writes the day it packs); and each file keeps the mode and owner of the
//! file it extends (rockcraft writes new files, so `/etc/shadow` becomes
//! world-readable `0644`); new ones are `0644` root. A file that does not
//! end in a newline gets one before the new line.
//!
//! The layer also has pebble's directory, `/var/lib/pebble/default`, mode
//! `0777`, the user's home: rockcraft's pebble part makes it so, and the
//! image's `HOME` and working directory are set to it (see
//! [`crate::lower::image`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use strata_frontend_api::{HostOpError, HostResult, HostTree};

use crate::tree::{Entry, EntryKind, Tree};

use super::content_id;
use super::stack::{Layer, Seen, Stack};

/// rockcraft's shared users (`usernames.SUPPORTED_GLOBAL_USERNAMES`): name
/// and uid (= gid).
pub const SHARED_USERS: &[(&str, u32)] = &[("_daemon_", 584792)];

/// The shared users' home: pebble's directory (`Pebble.PEBBLE_PATH`).
pub const HOME: &str = "/var/lib/pebble/default";

/// Their login shell.
pub const SHELL: &str = "/usr/bin/false";

/// The uid of a shared user.
pub fn uid_of(user: &str) -> Option<u32> {
    SHARED_USERS.iter().find(|(u, _)| *u == user).map(|(_, uid)| *uid)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddUser {
    pub user: String,
    pub uid: u32,
    /// The first input is the base's `etc` (an image's layers, merged).
    pub base: bool,
    /// The shadow line's day of the last password change (days since the
    /// epoch); empty when `None`.
    pub shadow_day: Option<i64>,
}

pub fn run(p: &AddUser, inputs: &[HostTree<'_>]) -> Result<HostResult, HostOpError> {
    let layers = inputs.iter().enumerate().map(|(i, t)| Layer { tree: t.tree, merged: p.base && i == 0 }).collect();
    let stack = Stack { layers };
    let (user, uid) = (p.user.as_str(), p.uid);
    let read = |name: &str| -> Result<Option<(Vec<u8>, Entry)>, HostOpError> {
        match stack.seen(name) {
            Seen::Entry(i, e) => match e.kind {
                EntryKind::File { .. } => Ok(Some((super::read(&inputs[i], name)?, e.clone()))),
                _ => Err(HostOpError::new(format!(
                    "run-user: the image's /etc/{name} is not a regular file; cannot add the user {user} to it"
                ))),
            },
            Seen::Hidden | Seen::Absent => Ok(None),
        }
    };
    let passwd = read("passwd")?;
    let group = read("group")?;
    let shadow = read("shadow")?.filter(|(b, _)| !b.is_empty());
    let text = |f: &Option<(Vec<u8>, Entry)>| f.as_ref().map(|(b, _)| String::from_utf8_lossy(b).into_owned());
    let taken = |file: &str, text: &str, id_fields: &[usize]| {
        text.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields[0] == user {
                Some(format!("/etc/{file} already has '{user}'"))
            } else if id_fields.iter().any(|&i| fields.get(i) == Some(&uid.to_string().as_str())) {
                Some(format!("/etc/{file} already uses the id {uid} ('{}')", fields[0]))
            } else {
                None
            }
        })
    };
    let conflict = taken("passwd", &text(&passwd).unwrap_or_default(), &[2, 3])
        .or_else(|| taken("group", &text(&group).unwrap_or_default(), &[2]));
    if let Some(why) = conflict {
        return Err(HostOpError::new(format!(
            "run-user: cannot create the user {user}:{uid} with the group {user}:{uid}: {why} (a conflict with an existing user or group in the image)"
        )));
    }

    let mut tree = Tree::new();
    let mut data = BTreeMap::new();
    let mut add = |name: &str, old: Option<(Vec<u8>, Entry)>, line: String| {
        let (mut bytes, entry) = old.unwrap_or_else(|| (Vec::new(), Entry::file(0o644, "")));
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(line.as_bytes());
        let id = content_id(&bytes);
        data.insert(id.clone(), bytes);
        tree.insert_with_parents(
            &format!("etc/{name}"),
            Entry { kind: EntryKind::File { content: id }, ..entry },
            0o755,
        );
    };
    add("passwd", passwd, format!("{user}:x:{uid}:{uid}::{HOME}:{SHELL}\n"));
    add("group", group, format!("{user}:x:{uid}:\n"));
    if let Some(old) = shadow {
        let day = p.shadow_day.map(|d| d.to_string()).unwrap_or_default();
        add("shadow", Some(old), format!("{user}:!:{day}::::::\n"));
    }
    tree.mkdir_p(HOME.trim_start_matches('/'), 0o755);
    tree.insert(HOME.trim_start_matches('/'), Entry::dir(0o777));
    Ok(HostResult { tree, data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hostops::testing::Files;

    const DAEMON: &str = "_daemon_:x:584792:584792::/var/lib/pebble/default:/usr/bin/false\n";

    fn params(base: bool) -> AddUser {
        AddUser { user: "_daemon_".into(), uid: 584792, base, shadow_day: None }
    }

    fn file(out: &HostResult, path: &str) -> (String, Entry) {
        let e = out.tree.get(path).unwrap_or_else(|| panic!("no {path}")).clone();
        let EntryKind::File { content } = &e.kind else { panic!("{path} is not a file") };
        (String::from_utf8(out.data[content].clone()).unwrap(), e)
    }

    #[test]
    fn the_user_is_appended_to_the_bases_files_with_their_modes() {
        let mut base = Files::listing(
            "f 644 passwd root:x:0:0:root:/root:/bin/bash\\n\nf 644 group root:x:0:\\n\nf 640 shadow root:*:19000:0:99999:7:::\\n\n",
        );
        let mut shadow = base.tree.get("shadow").unwrap().clone();
        shadow.gid = 42;
        base.tree.insert("shadow", shadow);
        let out = run(&AddUser { shadow_day: Some(20000), ..params(true) }, &[base.host()]).unwrap();
        assert_eq!(file(&out, "etc/passwd").0, format!("root:x:0:0:root:/root:/bin/bash\n{DAEMON}"));
        assert_eq!(file(&out, "etc/group").0, "root:x:0:\n_daemon_:x:584792:\n");
        let (text, e) = file(&out, "etc/shadow");
        assert_eq!(text, "root:*:19000:0:99999:7:::\n_daemon_:!:20000::::::\n");
        assert_eq!((e.mode, e.uid, e.gid), (0o640, 0, 42), "shadow keeps its mode and group");
        let home = out.tree.get("var/lib/pebble/default").unwrap();
        assert_eq!((home.is_dir(), home.mode), (true, 0o777));
        assert_eq!(out.tree.get("var/lib").unwrap().mode, 0o755);
        // The same inputs, the same bytes.
        assert_eq!(run(&AddUser { shadow_day: Some(20000), ..params(true) }, &[base.host()]).unwrap(), out);
    }

    #[test]
    fn the_prime_wins_over_the_base_and_a_deleted_file_starts_empty() {
        let base = Files::listing("f 644 passwd base:x:1:1::/:/bin/sh\\n\nf 644 group base:x:1:\\n\n");
        let overlay = Files::listing("f 0 .wh.group\n");
        let prime = Files::listing("f 644 passwd prime:x:2:2::/:/bin/sh\n");
        let out = run(&params(true), &[base.host(), overlay.host(), prime.host()]).unwrap();
        assert_eq!(file(&out, "etc/passwd").0, format!("prime:x:2:2::/:/bin/sh\n{DAEMON}"), "a newline is added");
        assert_eq!(file(&out, "etc/group").0, "_daemon_:x:584792:\n");
        assert!(out.tree.get("etc/shadow").is_none(), "no shadow where the image has none");
        // A bare base with nothing primed: new files.
        let out = run(&params(false), &[Files::listing("").host()]).unwrap();
        let (text, e) = file(&out, "etc/passwd");
        assert_eq!((text.as_str(), e.mode, e.uid), (DAEMON, 0o644, 0));
    }

    #[test]
    fn a_name_or_id_already_taken_is_refused() {
        for (passwd, group, why) in [
            ("_daemon_:x:1:1::/:/bin/sh\n", "", "/etc/passwd already has '_daemon_'"),
            ("other:x:584792:1::/:/bin/sh\n", "", "/etc/passwd already uses the id 584792 ('other')"),
            ("other:x:1:584792::/:/bin/sh\n", "", "already uses the id 584792"),
            ("", "_daemon_:x:5:\n", "/etc/group already has '_daemon_'"),
            ("", "g:x:584792:\n", "/etc/group already uses the id 584792 ('g')"),
        ] {
            let bytes = BTreeMap::from([("passwd".to_string(), passwd), ("group".to_string(), group)]);
            let listing: String =
                bytes.iter().map(|(n, t)| format!("f 644 {n} {}\n", t.replace('\n', "\\n"))).collect();
            let err = run(&params(true), &[Files::listing(&listing).host()]).unwrap_err();
            assert!(err.message.contains(why), "{why}: {}", err.message);
            assert!(err.message.contains("cannot create the user _daemon_:584792"), "{}", err.message);
        }
    }
}
