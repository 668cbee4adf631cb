//! Worker hosts across network namespaces joined by veth pairs: one namespace for
//! `strato serve`, two for worker hosts, one for the driver, speaking TLS with a CA the test
//! makes (or, for the fault tests, plain TCP with `STRATO_PLAINTEXT=1`). Needs root and iproute2 (CI runs as root); where namespaces cannot be made,
//! each test says so on stderr and passes.

mod cluster;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cluster::netns::{Net, TestCa};
use cluster::{both, corpus, eventually, lines_with, run_locally, Host, HostSpec, Serve};

/// One cluster at a time: four processes' worth of workers each on a 2-core machine.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The cluster of one test: namespaces, the server and two hosts.
struct Cluster {
    hosts: Vec<Host>,
    serve: Serve,
    net: Net,
    tls: TestCa,
    dir: tempfile::TempDir,
    link: Link,
    _turn: std::sync::MutexGuard<'static, ()>,
}

/// How the cluster's processes talk.
#[derive(Clone, Copy, PartialEq)]
enum Link {
    Tls,
    Plain,
}

/// Builds the cluster, or explains loudly why it cannot and returns `None`.
fn cluster(link: Link) -> Option<Cluster> {
    let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let net = match Net::create(&["serve", "h1", "h2", "driver"]) {
        Ok(net) => net,
        Err(why) => {
            eprintln!("SKIPPED (network namespaces unavailable here): {why}");
            return None;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let tls = TestCa::make(dir.path(), &net.address("serve"));
    let on_serve = net.on("serve");
    let (cert, key) = (tls.cert.to_str().unwrap(), tls.key.to_str().unwrap());
    let flags = match link {
        Link::Tls => vec!["--tls-cert", cert, "--tls-key", key],
        Link::Plain => vec![],
    };
    let serve = Serve::start_with(&refs(&on_serve), &net.address("serve"), &flags);
    let scheme = if link == Link::Tls {
        "tls://"
    } else {
        "tcp://"
    };
    assert!(serve.address.starts_with(scheme), "{}", serve.address);
    let python = cluster::venv_python();
    let hosts = ["h1", "h2"]
        .iter()
        .map(|name| {
            let prefix = net.on(name);
            Host::start(HostSpec {
                name,
                connect: &serve.address,
                token: &serve.token,
                slots: 2,
                cache: &dir.path().join(name),
                prefix: &refs(&prefix),
                ca: Some(&tls.ca),
                plaintext: link == Link::Plain,
                python: Some(&python),
            })
        })
        .collect();
    Some(Cluster {
        hosts,
        serve,
        net,
        tls,
        dir,
        link,
        _turn: turn,
    })
}

fn refs(strings: &[String]) -> Vec<&str> {
    strings.iter().map(String::as_str).collect()
}

impl Cluster {
    fn driver(&self, example: &str, args: &[&str]) -> std::process::Command {
        let prefix = self.net.on("driver");
        let mut command = cluster::driver_command(&refs(&prefix), &self.serve, example, args);
        command
            .env("STRATO_WORKERS", "4")
            .env("STRATO_TLS_CA", &self.tls.ca);
        if self.link == Link::Plain {
            command.env("STRATO_PLAINTEXT", "1");
        }
        command
    }

    fn workers(&self) -> Vec<u32> {
        self.hosts.iter().flat_map(Host::workers).collect()
    }

    /// A Python program run as a driver in the driver's namespace.
    fn python_driver(&self, python: &Path, script: &Path, args: &[&str]) -> Command {
        let prefix = self.net.on("driver");
        let mut command =
            cluster::python_driver_command(&refs(&prefix), &self.serve, python, script, args);
        command.env("STRATO_TLS_CA", &self.tls.ca);
        if self.link == Link::Plain {
            command.env("STRATO_PLAINTEXT", "1");
        }
        command
    }
}

/// A Python driver whose pool's tasks say where they ran. Its functions are the main
/// script's, which travels to the hosts; a global set by the pool's initializer is seen by
/// the tasks; the first run of task 3 kills its own worker.
const PYTHON_PROGRAM: &str = r#"
import os, signal, sys
import strato.multiprocessing as mp

counter = None

def init(value):
    global counter
    counter = value

def where(i):
    marker = os.path.join(sys.argv[1], "killed")
    if i == 3 and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    with counter.get_lock():
        counter.value += 1
    return os.stat("/proc/self/ns/net").st_ino, os.getcwd(), i * i

if __name__ == "__main__":
    value = mp.Value("i", 0)
    with mp.Pool(4, initializer=init, initargs=(value,)) as pool:
        results = pool.map(where, range(8))
    here = os.stat("/proc/self/ns/net").st_ino
    print("squares", [square for _, _, square in results])
    print("elsewhere", all(net != here for net, _, _ in results))
    for cwd in sorted({cwd for _, cwd, _ in results}):
        print("cwd", cwd)
    print("count", value.value)
"#;

#[test]
fn a_python_pool_runs_on_the_hosts_and_a_task_whose_worker_was_killed_runs_again() {
    let Some(python) = cluster::strato_python() else {
        return;
    };
    let Some(cluster) = cluster(Link::Tls) else {
        return;
    };
    let script = cluster.dir.path().join("pool_on_hosts.py");
    std::fs::write(&script, PYTHON_PROGRAM).unwrap();
    let dir = cluster.dir.path().to_str().unwrap();
    let output = cluster
        .python_driver(&python, &script, &[dir])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", both(&output));
    assert_eq!(
        lines_with(&output, "squares"),
        ["squares [0, 1, 4, 9, 16, 25, 36, 49]"],
        "{}",
        both(&output)
    );
    assert_eq!(lines_with(&output, "elsewhere"), ["elsewhere True"]);
    assert_eq!(
        lines_with(&output, "count"),
        ["count 8"],
        "{}",
        both(&output)
    );
    assert!(
        cluster.dir.path().join("killed").exists(),
        "no worker was killed"
    );
    // Workers ran in a directory of a host's cache holding the main script.
    let cwds = lines_with(&output, "cwd ");
    assert!(!cwds.is_empty());
    for cwd in cwds {
        let cwd = Path::new(cwd.trim_start_matches("cwd "));
        let in_a_cache = cluster.hosts.iter().any(|h| cwd.starts_with(&h.cache));
        assert!(in_a_cache, "{cwd:?}");
        assert!(cwd.join("pool_on_hosts.py").exists(), "{cwd:?}");
    }
}

#[test]
fn the_python_pi_example_on_hosts_prints_what_the_standard_library_prints() {
    let Some(python) = cluster::strato_python() else {
        return;
    };
    let Some(cluster) = cluster(Link::Plain) else {
        return;
    };
    let script = cluster::python_file("examples/pi.py");
    let args = ["--tasks", "8", "--points", "20000"];
    let remote = cluster
        .python_driver(&python, &script, &args)
        .output()
        .unwrap();
    assert!(remote.status.success(), "{}", both(&remote));
    let mut stdlib = Command::new(&python);
    let stdlib = stdlib
        .arg(&script)
        .args(args)
        .arg("--stdlib")
        .output()
        .unwrap();
    assert!(stdlib.status.success(), "{}", both(&stdlib));
    assert_eq!(lines_with(&remote, "pi ≈"), lines_with(&stdlib, "pi ≈"));
    assert_eq!(lines_with(&remote, "pi ≈").len(), 1, "{}", both(&remote));
}

#[test]
fn pi_wordcount_and_kmeans_across_hosts_print_what_they_print_locally() {
    let Some(cluster) = cluster(Link::Tls) else {
        return;
    };
    let args = ["--tasks", "16", "--points", "2000000"];
    let remote = cluster.driver("pi", &args).output().unwrap();
    assert!(remote.status.success(), "{}", both(&remote));
    assert_eq!(
        lines_with(&remote, "pi ≈"),
        lines_with(&run_locally("pi", &args), "pi ≈")
    );
    // Both hosts fetched the executable and ran workers.
    for host in &cluster.hosts {
        assert!(host.cache.exists(), "host {} fetched nothing", host.name);
    }

    let corpus = corpus(cluster.dir.path(), 3, 100_000);
    let args = ["--input", corpus.to_str().unwrap(), "--top", "5"];
    let remote = cluster.driver("wordcount", &args).output().unwrap();
    assert!(remote.status.success(), "{}", both(&remote));
    let words = |output: &std::process::Output| {
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        let counts = text.lines().filter(|l| !l.starts_with("tasks="));
        counts.map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(words(&remote), words(&run_locally("wordcount", &args)));
    assert_eq!(words(&remote).len(), 5, "{}", both(&remote));

    // kmeans keeps its centroids in a user-defined object: the server hosts it in a process
    // of the kmeans executable, fetched by hash into its cache.
    let args = ["--threads", "3", "--points", "5000", "--k", "5"];
    let remote = cluster.driver("kmeans", &args).output().unwrap();
    assert!(remote.status.success(), "{}", both(&remote));
    let result = lines_with(&remote, "result:");
    assert_eq!(result.len(), 1, "{}", both(&remote));
    assert_eq!(result, lines_with(&run_locally("kmeans", &args), "result:"));
    let objects_hosts = cluster::processes_running_from(cluster.serve.cache.path());
    assert_eq!(objects_hosts.len(), 1, "{objects_hosts:?}");
}

#[test]
fn a_killed_host_leaves_the_job_to_the_other_across_the_network() {
    let Some(mut cluster) = cluster(Link::Plain) else {
        return;
    };
    let args = ["--tasks", "24", "--points", "240000000"];
    let mut driver = cluster
        .driver("pi", &args)
        .env("RUST_LOG", "strato::executor=debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The job is under way once a first result came back: the executor started (all its
    // workers joined), so the host's death is a loss during the job, not during the start.
    let (first_result, log) = watch_for(driver.stderr.take().unwrap(), "task received");
    let doomed = &cluster.hosts[0];
    let running = first_result.recv_timeout(Duration::from_secs(120)).is_ok()
        && eventually(Duration::from_secs(10), || !doomed.workers().is_empty());
    let counts: Vec<usize> = cluster.hosts.iter().map(|h| h.workers().len()).collect();
    assert!(running, "the job never ran on both hosts: {counts:?}");
    cluster.hosts[0].process.kill();
    let gone = eventually(Duration::from_secs(5), || {
        cluster.hosts[0].workers().is_empty()
    });
    assert!(gone, "the killed host's workers outlived it");
    let output = driver.wait_with_output().unwrap();
    let log = log.join().unwrap();
    assert!(output.status.success(), "{}\n{log}", both(&output));
    assert_eq!(
        lines_with(&output, "pi ≈"),
        lines_with(&run_locally("pi", &args), "pi ≈")
    );
}

/// Reads `stream` to its end on a thread: the receiver hears once a line contains `needle`;
/// the thread answers everything read.
fn watch_for(
    stream: impl std::io::Read + Send + 'static,
    needle: &'static str,
) -> (
    std::sync::mpsc::Receiver<()>,
    std::thread::JoinHandle<String>,
) {
    use std::io::BufRead;
    let (seen, heard) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(stream)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains(needle) {
                let _ = seen.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    (heard, reader)
}

#[test]
fn a_killed_driver_takes_every_worker_on_every_host_with_it() {
    let Some(cluster) = cluster(Link::Plain) else {
        return;
    };
    let args = ["--tasks", "400", "--points", "4000000000"];
    let mut driver = cluster::Guard(
        cluster
            .driver("pi", &args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let started = eventually(Duration::from_secs(60), || cluster.workers().len() == 4);
    assert!(
        started,
        "the hosts never ran four workers: {:?}",
        cluster.workers()
    );
    driver.kill();
    let gone = eventually(Duration::from_secs(5), || cluster.workers().is_empty());
    assert!(
        gone,
        "workers outlived their driver: {:?}",
        cluster.workers()
    );
}

#[test]
fn a_killed_server_fails_the_driver_and_leaves_no_worker() {
    let Some(mut cluster) = cluster(Link::Plain) else {
        return;
    };
    let args = ["--tasks", "400", "--points", "4000000000"];
    let driver = cluster
        .driver("pi", &args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = eventually(Duration::from_secs(60), || cluster.workers().len() == 4);
    assert!(started, "the hosts never ran four workers");
    cluster.serve.process.kill();
    let killed_at = std::time::Instant::now();
    let output = driver.wait_with_output().unwrap();
    assert!(
        killed_at.elapsed() < Duration::from_secs(10),
        "the driver took {:?}",
        killed_at.elapsed()
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("lost the connection to the state server"),
        "{}",
        both(&output)
    );
    let gone = eventually(Duration::from_secs(5), || cluster.workers().is_empty());
    assert!(gone, "workers outlived the server: {:?}", cluster.workers());
}

#[test]
fn a_host_cut_off_longer_than_a_lease_leaves_its_tasks_to_the_other_then_rejoins() {
    let Some(cluster) = cluster(Link::Plain) else {
        return;
    };
    let args = ["--tasks", "40", "--points", "150000000"];
    let driver = cluster
        .driver("pi", &args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let cut_off = &cluster.hosts[0];
    let running = eventually(Duration::from_secs(60), || cut_off.workers().len() == 2);
    assert!(running, "the first host never ran its workers");
    cluster.net.link("h1", false);
    // Its workers notice the silence (a lease's worth) and stop; the server gives their
    // tasks to the other host's workers meanwhile.
    let stopped = eventually(Duration::from_secs(30), || cut_off.workers().is_empty());
    cluster.net.link("h1", true);
    assert!(stopped, "the cut-off host's workers never noticed the cut");
    let output = driver.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", both(&output));
    assert_eq!(
        lines_with(&output, "pi ≈"),
        lines_with(&run_locally("pi", &args), "pi ≈")
    );
    // The host reconnected: a job that needs all four slots gets two of them there.
    let short = ["--tasks", "8", "--points", "400000"];
    let again = cluster.driver("pi", &short).output().unwrap();
    assert!(again.status.success(), "{}", both(&again));
    assert!(
        lines_with(&again, "tasks=8 workers=4").len() == 1,
        "{}",
        both(&again)
    );
}

#[test]
fn a_host_that_does_not_trust_the_servers_certificate_is_refused() {
    let Some(cluster) = cluster(Link::Tls) else {
        return;
    };
    let prefix = cluster.net.on("h1");
    let spec = HostSpec {
        name: "stranger",
        connect: &cluster.serve.address,
        token: &cluster.serve.token,
        slots: 1,
        cache: &cluster.dir.path().join("stranger"),
        prefix: &refs(&prefix),
        ca: None,
        plaintext: false,
        python: None,
    };
    let output = Host::spawn(&spec).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("certificate is not trusted"), "{stderr}");
    assert!(stderr.contains("STRATO_TLS_CA"), "{stderr}");
}

#[test]
fn a_token_is_not_sent_in_clear_text_beyond_loopback() {
    let Some(cluster) = cluster(Link::Tls) else {
        return;
    };
    let plain = cluster.serve.address.replace("tls://", "tcp://");
    let mut command = cluster.driver("pi", &["--tasks", "2", "--points", "1000"]);
    let output = command.env("STRATO_STATE", &plain).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to send the token in clear text"),
        "{stderr}"
    );
    assert!(stderr.contains("STRATO_PLAINTEXT=1"), "{stderr}");
}
