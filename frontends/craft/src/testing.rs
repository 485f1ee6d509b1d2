//! Builders for unit tests.

use strata_frontend_api::{BuildPlan, Fileset, Part, Scriptlets};

pub fn part() -> Part {
    Part {
        plugin: "nil".into(),
        plugin_options: Default::default(),
        build_plan: BuildPlan::default(),
        source: None,
        after: vec![],
        disable_parallel: false,
        build_packages: vec![],
        stage_packages: vec![],
        overlay_packages: vec![],
        overlay: Fileset::all(),
        build_environment: vec![],
        build_attributes: vec![],
        organize: vec![],
        stage: Fileset::all(),
        prime: Fileset::all(),
        scriptlets: Scriptlets::default(),
        permissions: vec![],
    }
}

pub fn part_after(after: &[&str]) -> Part {
    Part { after: after.iter().map(|s| s.to_string()).collect(), ..part() }
}

pub fn part_with_filesets(stage: &[&str], prime: &[&str]) -> Part {
    Part { stage: Fileset::new(stage.iter().copied()), prime: Fileset::new(prime.iter().copied()), ..part() }
}
