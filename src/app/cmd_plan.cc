// sluice plan: the placement `run` would use (for the NIC given by --nic), and a host tuning
// checklist.
#include "commands.h"

#include <sluice/config/config.h>
#include <sluice/topo/topo.h>
#include <sluice_config.h>
#if SLUICE_HAVE_DPDK
#include <sluice/net/dpdk_port.h>
#endif

#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace sluice::app {

namespace {

enum class verdict { pass, warn, fail };

struct check_result {
    std::string name;
    verdict v;
    std::string detail;
    std::string fix;  // empty when pass
};

const char* verdict_text(verdict v) {
    switch (v) {
        case verdict::pass: return "pass";
        case verdict::warn: return "WARN";
        case verdict::fail: return "FAIL";
    }
    return "?";
}

std::string read_first_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    if (!in || !std::getline(in, line)) return {};
    return line;
}

// Parses a kernel cpu list ("0-3,8,10-11").
std::vector<unsigned> parse_cpu_list(const std::string& s) {
    std::vector<unsigned> out;
    std::stringstream ss(s);
    std::string part;
    while (std::getline(ss, part, ',')) {
        if (part.empty()) continue;
        const auto dash = part.find('-');
        try {
            if (dash == std::string::npos) {
                out.push_back(static_cast<unsigned>(std::stoul(part)));
            } else {
                const unsigned a = static_cast<unsigned>(std::stoul(part.substr(0, dash)));
                const unsigned b = static_cast<unsigned>(std::stoul(part.substr(dash + 1)));
                for (unsigned c = a; c <= b && c < a + 4096; ++c) out.push_back(c);
            }
        } catch (const std::exception&) {
            return {};
        }
    }
    return out;
}

std::string join(const std::vector<unsigned>& v) {
    std::string s;
    for (unsigned c : v) {
        if (!s.empty()) s += ',';
        s += std::to_string(c);
    }
    return s;
}

std::string human_bytes(double b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f %s", b, units[u]);
    return buf;
}

check_result check_hugepages(const config::appliance_config& cfg) {
    std::ifstream in("/proc/meminfo");
    std::string line;
    long total = -1, free_pages = -1, size_kb = -1;
    while (std::getline(in, line)) {
        if (line.rfind("HugePages_Total:", 0) == 0) total = std::stol(line.substr(16));
        else if (line.rfind("HugePages_Free:", 0) == 0) free_pages = std::stol(line.substr(15));
        else if (line.rfind("Hugepagesize:", 0) == 0) size_kb = std::stol(line.substr(13));
    }
    std::string detail = total < 0 ? "no hugepage info in /proc/meminfo"
                                   : std::to_string(total) + " reserved, " +
                                         std::to_string(free_pages) + " free, " +
                                         std::to_string(size_kb) + " kB each";
    if (cfg.ingest.backend != config::ingest_backend::dpdk) {
        return {"hugepages", verdict::pass, detail + " (socket backend does not need them)", ""};
    }
    if (free_pages >= 512) return {"hugepages", verdict::pass, detail, ""};
    return {"hugepages", verdict::warn, detail + "; DPDK will need --no-huge (slower mempools)",
            "echo 1024 > /proc/sys/vm/nr_hugepages && mount -t hugetlbfs nodev /dev/hugepages "
            "(or tuning/ host preparation)"};
}

check_result check_isolcpus(const topo::placement& p) {
    const std::string iso = read_first_line("/sys/devices/system/cpu/isolated");
    const auto isolated = parse_cpu_list(iso);
    std::vector<unsigned> missing;
    for (unsigned c : p.pipeline_cpus) {
        bool found = false;
        for (unsigned i : isolated) found = found || i == c;
        if (!found) missing.push_back(c);
    }
    const std::string detail = "isolated: " + (iso.empty() ? std::string("none") : iso);
    if (missing.empty()) return {"isolcpus", verdict::pass, detail, ""};
    return {"isolcpus", verdict::warn,
            detail + "; pipeline cpu(s) " + join(missing) + " share with the scheduler's other work",
            "add 'isolcpus=" + join(p.pipeline_cpus) + " nohz_full=" + join(p.pipeline_cpus) +
                " rcu_nocbs=" + join(p.pipeline_cpus) + "' to the kernel command line and reboot"};
}

check_result check_governor(const topo::placement& p) {
    std::vector<unsigned> slow;
    std::string seen;
    bool any = false;
    for (unsigned c : p.pipeline_cpus) {
        const std::string g = read_first_line("/sys/devices/system/cpu/cpu" + std::to_string(c) +
                                              "/cpufreq/scaling_governor");
        if (g.empty()) continue;
        any = true;
        if (seen.find(g) == std::string::npos) seen += (seen.empty() ? "" : ",") + g;
        if (g != "performance") slow.push_back(c);
    }
    if (!any) {
        return {"governor", verdict::pass, "no cpufreq control (VM or fixed clock)", ""};
    }
    if (slow.empty()) return {"governor", verdict::pass, "performance", ""};
    return {"governor", verdict::warn, "governor " + seen + " on pipeline cpu(s) " + join(slow),
            "cpupower frequency-set -g performance (or echo performance > "
            "/sys/devices/system/cpu/cpuN/cpufreq/scaling_governor)"};
}

check_result check_thp() {
    const std::string s = read_first_line("/sys/kernel/mm/transparent_hugepage/enabled");
    if (s.empty()) return {"THP", verdict::pass, "transparent hugepages not available", ""};
    if (s.find("[always]") != std::string::npos) {
        return {"THP", verdict::warn, s + " (khugepaged compaction stalls cause latency spikes)",
                "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled"};
    }
    return {"THP", verdict::pass, s, ""};
}

check_result check_memlock() {
    rlimit rl{};
    if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0) {
        return {"RLIMIT_MEMLOCK", verdict::warn, "getrlimit failed", "ulimit -l unlimited"};
    }
    constexpr rlim_t want = rlim_t{64} << 20;
    if (rl.rlim_cur == RLIM_INFINITY) return {"RLIMIT_MEMLOCK", verdict::pass, "unlimited", ""};
    const std::string detail = human_bytes(static_cast<double>(rl.rlim_cur));
    if (rl.rlim_cur >= want) return {"RLIMIT_MEMLOCK", verdict::pass, detail, ""};
    return {"RLIMIT_MEMLOCK", verdict::warn,
            detail + " (< 64 MiB: io_uring buffer rings and DPDK memory may fail to lock)",
            "ulimit -l unlimited (systemd: LimitMEMLOCK=infinity)"};
}

check_result check_disk(const config::appliance_config& cfg) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path dir = fs::absolute(cfg.data_dir, ec);
    fs::path probe = dir;
    while (!probe.empty() && !fs::exists(probe, ec)) {
        if (probe == probe.parent_path()) break;
        probe = probe.parent_path();
    }
    struct statvfs sv {};
    if (probe.empty() || statvfs(probe.c_str(), &sv) != 0) {
        return {"data_dir space", verdict::fail, "cannot stat " + dir.string(),
                "create data_dir or fix the path in the config"};
    }
    const double avail = static_cast<double>(sv.f_bavail) * static_cast<double>(sv.f_frsize);
    double need = 0;  // one active, preallocated segment per partition
    for (const auto& t : cfg.topics) {
        need += static_cast<double>(t.partitions) * static_cast<double>(t.segment_bytes);
    }
    std::string detail = human_bytes(avail) + " free at " + probe.string() + " for " + dir.string() +
                         "; active segments need up to " + human_bytes(need);
    if (access(probe.c_str(), W_OK) != 0) {
        return {"data_dir space", verdict::fail, detail + "; not writable",
                "chown/chmod " + probe.string() + " or choose another data_dir"};
    }
    if (avail < 256.0 * 1024 * 1024) {
        return {"data_dir space", verdict::fail, detail,
                "free space or move data_dir to a larger filesystem"};
    }
    if (avail < need) {
        return {"data_dir space", verdict::warn, detail,
                "lower topic.segment_bytes or partitions, or use a larger filesystem"};
    }
    return {"data_dir space", verdict::pass, detail, ""};
}

}  // namespace

int cmd_plan(const plan_args& a) {
    std::string err;
    auto cfg = load_app_config(a.config, "", &err);
    if (!cfg) {
        std::fprintf(stderr, "sluice plan: %s\n", err.c_str());
        return 1;
    }
    std::optional<topo::pci_device> nic;
    std::string nic_note;  // where the NIC came from when --nic was not given
    if (!a.nic.empty()) {
        nic = topo::find_pci_device(a.nic, &err);
        if (!nic) {
            std::fprintf(stderr, "sluice plan: --nic %s: %s\n", a.nic.c_str(), err.c_str());
            return 1;
        }
    }
#if SLUICE_HAVE_DPDK
    // Without --nic, the DPDK profile's PCI device (eal.allow), as `sluice run` places it.
    if (!nic && cfg->ingest.backend == config::ingest_backend::dpdk) {
        std::string perr;
        auto prof = net::load_dpdk_profile(cfg->ingest.dpdk_profile, &perr);
        if (prof && !prof->allow.empty()) {
            nic = topo::find_pci_device(prof->allow.front(), &perr);
            if (nic) nic_note = " (from " + cfg->ingest.dpdk_profile + ")";
            else
                std::printf("nic: %s from %s: %s; no node preference\n", prof->allow.front().c_str(),
                            cfg->ingest.dpdk_profile.c_str(), perr.c_str());
        }
    }
#endif
    auto t = topo::topology::load(&err);
    if (!t) {
        std::fprintf(stderr, "sluice plan: topology: %s\n", err.c_str());
        return 1;
    }

    std::printf("config: %s\n", a.config.empty() ? "(embedded default)" : a.config.c_str());
    std::printf("  backend %s, ingest address %s, %zu topic(s), data_dir %s\n",
                std::string(config::to_string(cfg->ingest.backend)).c_str(),
                cfg->ingest.address.c_str(), cfg->topics.size(), cfg->data_dir.c_str());
    std::printf("\ntopology: %s", t->render().c_str());

    topo::placement_request req;
    req.pipelines = cfg->ingest.cores;  // 0 = auto
    if (nic) {
        std::string what = nic->driver.empty() ? "no driver" : "driver " + nic->driver;
        for (const auto& i : nic->interfaces) what += ", netdev " + i;
        if (nic->numa_node >= 0) {
            std::printf("\nnic: %s%s (%s), NUMA node %d: pipelines placed there\n", nic->address.c_str(),
                        nic_note.c_str(), what.c_str(), nic->numa_node);
        } else {
            std::printf("\nnic: %s%s (%s), NUMA node unknown (sysfs numa_node -1: one node or no "
                        "NUMA information, e.g. a VM): no node preference\n",
                        nic->address.c_str(), nic_note.c_str(), what.c_str());
        }
        req.preferred_numa = nic->numa_node;
    }
    const topo::placement p = topo::plan(*t, req);
    std::printf("\nplacement (%zu pipeline(s)%s):\n%s", p.pipeline_cpus.size(),
                cfg->ingest.cores == 0 ? ", cores = \"auto\"" : "", topo::render(*t, p).c_str());

    std::vector<check_result> checks;
    checks.push_back(check_hugepages(*cfg));
    checks.push_back(check_isolcpus(p));
    checks.push_back(check_governor(p));
    checks.push_back(check_thp());
    checks.push_back(check_memlock());
    checks.push_back(check_disk(*cfg));

    std::printf("\nchecks:\n");
    int fails = 0, warns = 0;
    for (const auto& c : checks) {
        std::printf("  [%s] %-15s %s\n", verdict_text(c.v), c.name.c_str(), c.detail.c_str());
        if (!c.fix.empty()) std::printf("         fix: %s\n", c.fix.c_str());
        fails += c.v == verdict::fail;
        warns += c.v == verdict::warn;
    }
    std::printf("\n%d passed, %d warning(s), %d failed\n",
                static_cast<int>(checks.size()) - fails - warns, warns, fails);
    return a.check && fails > 0 ? 1 : 0;
}

}  // namespace sluice::app
