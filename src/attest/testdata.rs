//! A small inventory the document writers' tests render.

use strata_frontend_api::metadata::{Package, SourceRef};

use super::copyright::DebLicense;
use super::dpkg::Deb;
use super::inventory::{BaseImage, Found, Inventory, Origin};
use super::lang::{Ecosystem, Lang};
use super::python::Dist;

pub fn inventory() -> Inventory {
    let hex = "a".repeat(64);
    Inventory {
        name: "hello:1.0".into(),
        version: Some("1.0".into()),
        digest: format!("sha256:{hex}").parse().unwrap(),
        project: Some(Package {
            name: "hello".into(),
            license: Some("GPL v3".into()),
            description: Some("Greets".into()),
            ..Default::default()
        }),
        base: Some(BaseImage {
            reference: "debian:bookworm".into(),
            digest: format!("sha256:{}", "b".repeat(64)).parse().unwrap(),
        }),
        groups: vec![(
            "hello".into(),
            Package {
                name: "hello".into(),
                sources: vec![SourceRef {
                    kind: "tar".into(),
                    url: "https://example.com/hello-2.12.tar.gz".into(),
                    checksum: Some(format!("sha256/{}", "c".repeat(64))),
                    ..Default::default()
                }],
                ..Default::default()
            },
        )],
        debs: vec![Found {
            item: Deb {
                name: "libc6".into(),
                version: "2.36-9+deb12u4".into(),
                architecture: "amd64".into(),
                maintainer: Some("GNU Libc Maintainers <debian-glibc@lists.debian.org>".into()),
                homepage: None,
                source: Some("glibc".into()),
                sha256: None,
                license: DebLicense {
                    expression: Some("LGPL-2.1-or-later AND LicenseRef-public-domain".into()),
                    note: "from /usr/share/doc/libc6/copyright (DEP-5)".into(),
                    refs: vec![("LicenseRef-public-domain".into(), "public-domain".into())],
                },
            },
            origin: Origin::Base,
            layer: 0,
        }],
        dists: vec![Found {
            item: Dist {
                name: "flask".into(),
                version: "3.0.0".into(),
                license: Some("BSD-3-Clause".into()),
                homepage: None,
                path: "lib/python3.11/site-packages/flask-3.0.0.dist-info/METADATA".into(),
            },
            origin: Origin::Group("hello".into(), "prime".into()),
            layer: 1,
        }],
        langs: vec![Found {
            item: Lang {
                ecosystem: Ecosystem::Npm,
                name: "@types/node".into(),
                version: "20.1.0".into(),
                license: Some("MIT".into()),
                homepage: None,
                path: "usr/lib/node_modules/hello/node_modules/@types/node/package.json".into(),
                checksum: Some("sha512-AAEC".into()),
            },
            origin: Origin::Group("hello".into(), "prime".into()),
            layer: 1,
        }],
    }
}
