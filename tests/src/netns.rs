//! Hosts of a test network: one Linux network namespace per node, each with a veth pair on a
//! bridge the test creates in the root namespace, and a nemesis that cuts and heals links with
//! iptables inside the namespaces (so the test process, on the bridge's own address, always
//! reaches every node: only node-to-node traffic is cut, as in Jepsen's partitions).
//!
//! Only the addresses assigned here (a /24 of 10.231.0.0/16 picked from the process id) and
//! loopback are ever addressed. Needs root and iproute2/iptables (CI runs as root);
//! [`Net::create`] says why when it cannot. Everything is removed when the `Net` is dropped.
//!
//! `tc netem` (fixed delay, loss) needs the sch_netem kernel module, which the CI machines lack.
//! Loss is made with iptables' `statistic` match instead, and delay with a token-bucket qdisc
//! (`tbf`, which they have): a slow link whose queue holds packets for up to a bound and drops
//! what does not fit — delay that grows with load, as on a congested link, not a constant one.

use std::process::Command;

/// A node's host: its namespace and address.
pub struct Host {
    pub ns: String,
    pub ip: String,
    /// The host's end of its veth pair (inside its namespace).
    dev: String,
}

pub struct Net {
    pub hosts: Vec<Host>,
    bridge: String,
    subnet: String,
}

fn sh(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0]).args(&args[1..]).output().map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!("{} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn must(args: &[&str]) {
    sh(args).unwrap_or_else(|e| panic!("{e}"));
}

impl Net {
    /// Creates `n` hosts, or says why it cannot (not root, no namespaces).
    pub fn create(n: usize) -> Result<Net, String> {
        if unsafe { libc::geteuid() } != 0 {
            return Err("network namespaces need root".into());
        }
        let tag = std::process::id() % 100_000;
        let third = std::process::id() % 250;
        let subnet = format!("10.231.{third}");
        let bridge = format!("mmbr{tag}");
        let mut net = Net { hosts: Vec::new(), bridge: bridge.clone(), subnet: subnet.clone() };
        sh(&["ip", "link", "add", &bridge, "type", "bridge"])?;
        sh(&["ip", "addr", "add", &format!("{subnet}.1/24"), "dev", &bridge])?;
        sh(&["ip", "link", "set", &bridge, "up"])?;
        // Docker sets the root namespace's FORWARD policy to DROP and makes bridged frames pass
        // through iptables: let this bridge's own traffic through.
        let _ = sh(&["iptables", "-w", "-I", "FORWARD", "-i", &bridge, "-o", &bridge, "-j", "ACCEPT"]);
        for i in 0..n {
            let ns = format!("mm{tag}n{i}");
            let (outside, inside) = (format!("mv{tag}h{i}"), format!("mv{tag}c{i}"));
            let ip = format!("{subnet}.{}", 10 + i);
            sh(&["ip", "netns", "add", &ns])?;
            net.hosts.push(Host { ns: ns.clone(), ip: ip.clone(), dev: inside.clone() });
            sh(&["ip", "link", "add", &outside, "type", "veth", "peer", "name", &inside])?;
            sh(&["ip", "link", "set", &inside, "netns", &ns])?;
            sh(&["ip", "link", "set", &outside, "master", &bridge])?;
            sh(&["ip", "link", "set", &outside, "up"])?;
            sh(&["ip", "netns", "exec", &ns, "ip", "addr", "add", &format!("{ip}/24"), "dev", &inside])?;
            sh(&["ip", "netns", "exec", &ns, "ip", "link", "set", &inside, "up"])?;
            sh(&["ip", "netns", "exec", &ns, "ip", "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    /// The command prefix that runs a program on host `i`.
    pub fn wrapper(&self, i: usize) -> Vec<String> {
        vec!["ip".into(), "netns".into(), "exec".into(), self.hosts[i].ns.clone()]
    }

    /// Host `to` no longer receives what host `from` sends (one way).
    pub fn drop_from(&self, to: usize, from: usize) {
        must(&["ip", "netns", "exec", &self.hosts[to].ns, "iptables", "-w", "-A", "INPUT", "-s", &self.hosts[from].ip, "-j", "DROP"]);
    }

    /// Hosts `a` and `b` no longer reach each other.
    pub fn cut(&self, a: usize, b: usize) {
        self.drop_from(a, b);
        self.drop_from(b, a);
    }

    /// Every host in `left` is cut from every host in `right`.
    pub fn split(&self, left: &[usize], right: &[usize]) {
        for &a in left {
            for &b in right {
                self.cut(a, b);
            }
        }
    }

    /// Host `i` drops `percent` % of the packets other hosts send it.
    pub fn lossy(&self, i: usize, percent: u32) {
        let p = format!("{:.2}", f64::from(percent) / 100.0);
        // The other hosts only (.10 and up), not the test process on the bridge (.1).
        let hosts = format!("{0}.10-{0}.254", self.subnet);
        let me = &self.hosts[i];
        must(&[
            "ip",
            "netns",
            "exec",
            &me.ns,
            "iptables",
            "-w",
            "-A",
            "INPUT",
            "-m",
            "iprange",
            "--src-range",
            &hosts,
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            &p,
            "-j",
            "DROP",
        ]);
    }

    /// Everything host `i` sends leaves through a link of `kbit` kbit/s whose queue holds up to
    /// `queue_ms` of traffic; what does not fit is dropped.
    pub fn slow(&self, i: usize, kbit: u32, queue_ms: u32) {
        let h = &self.hosts[i];
        let (rate, latency) = (format!("{kbit}kbit"), format!("{queue_ms}ms"));
        // The bucket holds a few full-size packets, so a burst of heartbeats is not all queued.
        must(&[
            "ip", "netns", "exec", &h.ns, "tc", "qdisc", "replace", "dev", &h.dev, "root", "tbf", "rate", &rate, "burst", "16kb", "latency", &latency,
        ]);
    }

    /// Every link back.
    pub fn heal(&self) {
        for h in &self.hosts {
            must(&["ip", "netns", "exec", &h.ns, "iptables", "-w", "-F", "INPUT"]);
            // No shaping is the default (the kernel answers an error when there is none to delete).
            let _ = sh(&["ip", "netns", "exec", &h.ns, "tc", "qdisc", "del", "dev", &h.dev, "root"]);
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for h in &self.hosts {
            let _ = sh(&["ip", "netns", "del", &h.ns]);
        }
        let _ = sh(&["iptables", "-w", "-D", "FORWARD", "-i", &self.bridge, "-o", &self.bridge, "-j", "ACCEPT"]);
        let _ = sh(&["ip", "link", "del", &self.bridge]);
    }
}
