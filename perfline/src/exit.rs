//! The one exit-code table of perfline, shared by every tool (sysexits classes).
//!
//! | code | name          | meaning                                                              |
//! |------|---------------|----------------------------------------------------------------------|
//! | 0    | `Ok`          | success; for `waitfiles`: ready                                      |
//! | 1    | `Failed`      | the thing under test failed (a job, a benchmark, a `failed` record)  |
//! | 64   | `Usage`       | bad command line                                                     |
//! | 65   | `DataErr`     | bad input data: a test id, a list line, a config field, a record     |
//! | 66   | `NoInput`     | an input file or config does not exist or cannot be read            |
//! | 69   | `Unavailable` | a service (Slurm, a database) is unavailable; work was spooled       |
//! | 70   | `Software`    | internal error (a bug in perfline)                                   |
//! | 73   | `CantCreat`   | an output file or directory cannot be created                        |
//! | 74   | `IoErr`       | an I/O error while reading or writing                                |
//! | 75   | `TempFail`    | timed out; trying again later may work                               |
//! | 76   | `PeerFailed`  | a watched peer died or logged an error (waitfiles, role runner)      |
//! | 77   | `NoPerm`      | permission denied, or a secret file readable by others               |
//! | 78   | `Config`      | bad configuration: cluster profile, store URL, missing credentials   |
//!
//! When a tool reports several errors, it exits with the first one's code.

use std::fmt;

/// An exit status class. `Exit::X as i32` is the process exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Exit {
    Ok = 0,
    Failed = 1,
    Usage = 64,
    DataErr = 65,
    NoInput = 66,
    Unavailable = 69,
    Software = 70,
    CantCreat = 73,
    IoErr = 74,
    TempFail = 75,
    PeerFailed = 76,
    NoPerm = 77,
    Config = 78,
}

impl Exit {
    /// All codes, in table order.
    pub const ALL: [Exit; 13] = [
        Exit::Ok,
        Exit::Failed,
        Exit::Usage,
        Exit::DataErr,
        Exit::NoInput,
        Exit::Unavailable,
        Exit::Software,
        Exit::CantCreat,
        Exit::IoErr,
        Exit::TempFail,
        Exit::PeerFailed,
        Exit::NoPerm,
        Exit::Config,
    ];

    pub fn code(self) -> i32 {
        self as i32
    }

    /// The class of an I/O error: missing file → `NoInput`, permission → `NoPerm`, else `IoErr`.
    pub fn of_io(err: &std::io::Error) -> Exit {
        match err.kind() {
            std::io::ErrorKind::NotFound => Exit::NoInput,
            std::io::ErrorKind::PermissionDenied => Exit::NoPerm,
            _ => Exit::IoErr,
        }
    }

    pub fn from_code(code: i32) -> Option<Exit> {
        Exit::ALL.into_iter().find(|e| e.code() == code)
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({})", self, self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_round_trip() {
        for e in Exit::ALL {
            assert_eq!(Exit::from_code(e.code()), Some(e));
        }
        let mut codes: Vec<i32> = Exit::ALL.iter().map(|e| e.code()).collect();
        codes.dedup();
        assert_eq!(codes.len(), Exit::ALL.len());
        assert_eq!(Exit::TempFail.code(), 75);
        assert_eq!(Exit::of_io(&std::io::Error::from(std::io::ErrorKind::NotFound)), Exit::NoInput);
    }
}
