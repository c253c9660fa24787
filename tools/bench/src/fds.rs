//! File descriptors for thousands of sockets.
//!
//! Linux grows a process's descriptor table by doubling it, and in a multi-threaded process
//! each growth waits for an RCU grace period (`expand_fdtable` → `synchronize_rcu`), which
//! stalls the thread opening the socket, and so a runtime worker, for 10–25 ms. Measured on
//! bench: TTFT outliers of that size at 64, 128, 256, 512 … open sockets. Growing the table
//! once, while the process is still single-threaded, costs nothing and removes them.

/// Raises the soft open-file limit to the hard one and grows the descriptor table to hold
/// `n` descriptors (bounded by the limit). Call before starting any thread.
pub fn reserve(n: usize) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
        lim.rlim_cur
    };
    let top = (n as u64).min(soft.saturating_sub(1)).min(1 << 20);
    let Ok(top) = libc::c_int::try_from(top) else { return };
    if top <= 2 {
        return;
    }
    // SAFETY: dup2 onto an unused high descriptor, closed at once; only the table's size stays.
    unsafe {
        if libc::fcntl(top, libc::F_GETFD) == -1 && libc::dup2(2, top) == top {
            libc::close(top);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reserving_leaves_no_descriptor_open() {
        super::reserve(300);
        // SAFETY: F_GETFD only queries the descriptor.
        assert_eq!(unsafe { libc::fcntl(299, libc::F_GETFD) }, -1);
    }
}
