//! Builders for unit tests.

use strata_frontend_api::{Fileset, Part};

pub fn part() -> Part {
    Part::default()
}

pub fn part_after(after: &[&str]) -> Part {
    Part { after: after.iter().map(|s| s.to_string()).collect(), ..part() }
}

pub fn part_with_filesets(stage: &[&str], prime: &[&str]) -> Part {
    Part { stage: Fileset::new(stage.iter().copied()), prime: Fileset::new(prime.iter().copied()), ..part() }
}
