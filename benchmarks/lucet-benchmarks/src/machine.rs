//! A description of the machine a result was measured on, for the report.

use std::process::Command;

#[derive(Debug, Clone)]
pub struct Machine {
    pub cpu_model: String,
    pub cpus: usize,
    pub kernel: String,
    pub memory_gib: f64,
}

impl Machine {
    pub fn detect() -> Machine {
        let lscpu = Command::new("lscpu")
            .env("LC_ALL", "C")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let field = |text: &str, key: &str| {
            text.lines()
                .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim() == key).map(|(_, v)| v.trim().to_owned()))
        };
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = field(&lscpu, "Model name")
            .or_else(|| field(&cpuinfo, "model name"))
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| format!("Linux {}", s.trim()))
            .unwrap_or_else(|_| "unknown kernel".to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_gib = field(&meminfo, "MemTotal")
            .and_then(|v| v.trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kb| kb / (1024.0 * 1024.0))
            .unwrap_or(0.0);
        Machine { cpu_model, cpus, kernel, memory_gib }
    }

    /// One Markdown line.
    pub fn describe(&self) -> String {
        format!(
            "{} ({} CPUs available to the process), {:.0} GiB RAM, {}, x86-64",
            self.cpu_model, self.cpus, self.memory_gib, self.kernel
        )
    }
}
