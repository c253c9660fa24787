//! `cargo xtask db up|down|status`: a private MariaDB (Debian's `mariadb-server`) on a
//! loopback port, for upload's tests and benchmark.
//!
//! Everything lives in `target/mariadb/`: the data directory, socket, pid file, error log, a
//! `start.sh` that starts the server and waits until it answers (tests re-run it after
//! stopping the server), a 0600 `password` file for the test user, and `env`, the state file
//! tests read (`PERFLINE_TEST_MYSQL_URL`, `…_PASSWORD_FILE`, `…_PID_FILE`, `…_START`).

use crate::util::{apt_install_if_missing, is_root, project_root, Section};
use anyhow::{bail, Context};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use xshell::{cmd, Shell};

#[derive(clap::Args)]
pub struct Db {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Install mariadb-server when missing, start the instance, and wait until ready.
    Up,
    /// Stop exactly the server `up` started (its pid file).
    Down,
    /// Show whether the instance runs, and where.
    Status,
}

impl Db {
    pub fn run(self, sh: &Shell) -> anyhow::Result<()> {
        let instance = Instance::new();
        match self.action {
            Action::Up => {
                instance.up(sh)?;
                println!("{}", instance.describe());
            }
            Action::Down => instance.down()?,
            Action::Status => println!("{}", instance.describe()),
        }
        Ok(())
    }
}

/// The test user and database.
const USER: &str = "perfline";
const DATABASE: &str = "TRT_perf";
/// How long a start or stop may take.
const DEADLINE: Duration = Duration::from_secs(60);

/// The instance's files.
pub struct Instance {
    pub dir: PathBuf,
}

impl Instance {
    pub fn new() -> Instance {
        Instance { dir: project_root().join("target").join("mariadb") }
    }
    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }
    pub fn socket(&self) -> PathBuf {
        self.dir.join("mysqld.sock")
    }
    fn pid_file(&self) -> PathBuf {
        self.dir.join("mariadb.pid")
    }
    fn start_script(&self) -> PathBuf {
        self.dir.join("start.sh")
    }
    pub fn password_file(&self) -> PathBuf {
        self.dir.join("password")
    }
    pub fn env_file(&self) -> PathBuf {
        self.dir.join("env")
    }

    /// The pid of the running server we started, if any.
    fn running_pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.pid_file()).ok()?.trim().parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let ours = String::from_utf8_lossy(&cmdline).contains(&*self.data().to_string_lossy());
        ours.then_some(pid)
    }

    /// `mysql://perfline@127.0.0.1:PORT/TRT_perf` from the state file.
    pub fn url(&self) -> Option<String> {
        let env = std::fs::read_to_string(self.env_file()).ok()?;
        env.lines().find_map(|l| l.strip_prefix("PERFLINE_TEST_MYSQL_URL=")).map(str::to_string)
    }

    fn describe(&self) -> String {
        match (self.running_pid(), self.url()) {
            (Some(pid), Some(url)) => format!(
                "mariadb: running, pid {pid}, {url}, password file {}, state {}",
                self.password_file().display(),
                self.env_file().display()
            ),
            _ => "mariadb: not running (cargo xtask db up)".to_string(),
        }
    }

    /// Installs, initialises, starts and provisions the instance; a running one is kept.
    pub fn up(&self, sh: &Shell) -> anyhow::Result<()> {
        if self.running_pid().is_some() && self.url().is_some() {
            return Ok(());
        }
        apt_install_if_missing(sh, "mariadbd", &["mariadb-server"])?;
        std::fs::create_dir_all(&self.dir)?;
        let root_user: &[&str] = if is_root() { &["--user=root"] } else { &[] };
        if !self.data().join("mysql").is_dir() {
            let _s = Section::new("mariadb-install-db");
            let data = self.data();
            cmd!(sh, "mariadb-install-db --no-defaults {root_user...} --datadir={data} --auth-root-authentication-method=socket --skip-test-db")
                .quiet()
                .ignore_stdout()
                .run()?;
        }
        let port = free_port()?;
        self.write_start_script(port, root_user)?;
        let _s = Section::new(format!("start mariadb on 127.0.0.1:{port}"));
        let script = self.start_script();
        cmd!(sh, "sh {script}").run()?;
        let password = self.password()?;
        let socket = self.socket();
        // Password via stdin, never argv. It is hex, so it needs no SQL escaping.
        let setup = format!(
            "CREATE USER IF NOT EXISTS '{USER}'@'127.0.0.1' IDENTIFIED BY '{password}';
             ALTER USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{password}';
             GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'127.0.0.1';
             CREATE DATABASE IF NOT EXISTS {DATABASE} CHARACTER SET utf8mb4;"
        );
        cmd!(sh, "mariadb --no-defaults --socket={socket} -uroot").stdin(setup).quiet().run()?;
        let env = format!(
            "PERFLINE_TEST_MYSQL_URL=mysql://{USER}@127.0.0.1:{port}/{DATABASE}\n\
             PERFLINE_TEST_MYSQL_PASSWORD_FILE={}\n\
             PERFLINE_TEST_MYSQL_PID_FILE={}\n\
             PERFLINE_TEST_MYSQL_START={}\n",
            self.password_file().display(),
            self.pid_file().display(),
            script.display()
        );
        std::fs::write(self.env_file(), env)?;
        Ok(())
    }

    /// The test user's password: kept across restarts, created once (random, mode 0600).
    fn password(&self) -> anyhow::Result<String> {
        let path = self.password_file();
        if let Ok(p) = std::fs::read_to_string(&path) {
            if !p.trim().is_empty() {
                return Ok(p.trim().to_string());
            }
        }
        let mut bytes = [0u8; 16];
        std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
        let password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| path.display().to_string())?;
        writeln!(f, "{password}")?;
        Ok(password)
    }

    fn write_start_script(&self, port: u16, root_user: &[&str]) -> anyhow::Result<()> {
        let q = |p: PathBuf| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
        let script = format!(
            "#!/bin/sh\n\
             # Starts the private MariaDB of `cargo xtask db up` and waits until it answers.\n\
             set -eu\n\
             setsid mariadbd --no-defaults {user} --datadir={data} --socket={socket} \\\n\
             \x20 --pid-file={pid} --port={port} --bind-address=127.0.0.1 --skip-name-resolve \\\n\
             \x20 --log-error={log} --innodb-buffer-pool-size=256M </dev/null >/dev/null 2>&1 &\n\
             i=0\n\
             until mariadb-admin --no-defaults --socket={socket} -uroot ping >/dev/null 2>&1; do\n\
             \x20 i=$((i+1)); if [ $i -gt {tries} ]; then echo \"mariadb did not start; see {log}\" >&2; exit 1; fi\n\
             \x20 sleep 0.1\n\
             done\n",
            user = root_user.join(" "),
            data = q(self.data()),
            socket = q(self.socket()),
            pid = q(self.pid_file()),
            log = q(self.dir.join("mariadb.err")),
            tries = DEADLINE.as_secs() * 10,
        );
        std::fs::write(self.start_script(), script)?;
        Ok(())
    }

    /// Stops the server whose pid `up` recorded, and only that one.
    pub fn down(&self) -> anyhow::Result<()> {
        let _ = std::fs::remove_file(self.env_file());
        let Some(pid) = self.running_pid() else {
            println!("mariadb: not running");
            return Ok(());
        };
        let status =
            std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status()?;
        if !status.success() {
            bail!("kill -TERM {pid} failed");
        }
        wait_gone(pid)?;
        println!("mariadb: stopped pid {pid}");
        Ok(())
    }
}

fn wait_gone(pid: u32) -> anyhow::Result<()> {
    let start = Instant::now();
    // A zombie (state Z) has exited; its parent just has not reaped it yet.
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit(')').next().and_then(|r| r.split_whitespace().next()) != Some("Z")
        })
    };
    while alive() {
        if start.elapsed() > DEADLINE {
            bail!("mariadb pid {pid} still running after {}s", DEADLINE.as_secs());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// A loopback port nobody listens on now.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
