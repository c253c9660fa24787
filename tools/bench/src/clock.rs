//! Raw clock readings in nanoseconds, for joining a client's and a server's timestamps of the
//! same event: `CLOCK_MONOTONIC` between processes of one machine (Rust's `Instant` reads the
//! same clock but cannot be exported), `CLOCK_REALTIME` for clients that only export wall time.

fn read(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes only into the timespec we own.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}

/// `CLOCK_MONOTONIC` in ns (the clock behind `Instant` on Linux).
pub fn monotonic_ns() -> u64 {
    read(libc::CLOCK_MONOTONIC)
}

/// `CLOCK_REALTIME` in ns since the Unix epoch.
pub fn realtime_ns() -> u64 {
    read(libc::CLOCK_REALTIME)
}

#[cfg(test)]
mod tests {
    #[test]
    fn clocks_advance() {
        let (m, r) = (super::monotonic_ns(), super::realtime_ns());
        assert!(m > 0 && r > 1_600_000_000_000_000_000);
        assert!(super::monotonic_ns() >= m);
    }
}
