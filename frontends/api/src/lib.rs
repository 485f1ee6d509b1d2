//! The lifecycle IR: what every strata frontend (craft-parts YAML, spk,
//! Guix) produces and the planner consumes. Frontends know nothing of
//! containers, stores or executors (DESIGN.md §2); this crate is the whole
//! contract between them and the rest of strata.
//!
//! Today it holds the vocabulary shared by every frontend — the lifecycle
//! [`Step`]s and their order, and the [`Frontend`] trait. The project and
//! part types arrive with the first frontend (the craft-parts one).

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// A lifecycle step, in craft-parts order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Pull,
    Overlay,
    Build,
    Stage,
    Prime,
}

impl Step {
    pub const ALL: [Step; 5] = [Step::Pull, Step::Overlay, Step::Build, Step::Stage, Step::Prime];

    pub fn name(self) -> &'static str {
        match self {
            Step::Pull => "pull",
            Step::Overlay => "overlay",
            Step::Build => "build",
            Step::Stage => "stage",
            Step::Prime => "prime",
        }
    }

    /// The steps that must run before this one, for the same part.
    pub fn previous(self) -> &'static [Step] {
        let i = Step::ALL.iter().position(|s| *s == self).expect("every step is in ALL");
        &Step::ALL[..i]
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Step {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Step::ALL
            .into_iter()
            .find(|st| st.name() == s)
            .ok_or_else(|| format!("unknown step '{s}' (expected pull, overlay, build, stage or prime)"))
    }
}

/// Reads one spec format into the lifecycle IR.
pub trait Frontend {
    /// What the frontend produces (the project type of the IR).
    type Project;
    type Error: std::error::Error + Send + Sync + 'static;

    /// Whether this frontend reads `path` (by name or content sniffing).
    fn accepts(&self, path: &Path) -> bool;

    /// Parses the spec at `path`; errors point at line and column.
    fn load(&self, path: &Path) -> Result<Self::Project, Self::Error>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_run_in_craft_parts_order() {
        assert_eq!(Step::Build.previous(), &[Step::Pull, Step::Overlay]);
        assert_eq!("prime".parse::<Step>().unwrap(), Step::Prime);
        assert!("pack".parse::<Step>().is_err());
    }
}
