#include <sluice/topo/topo.h>

#include <hwloc.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <utility>

namespace sluice::topo {

namespace {
hwloc_topology_t h(void* p) { return static_cast<hwloc_topology_t>(p); }

std::string cpu_list(const std::vector<unsigned>& v) {
    std::string s;
    for (unsigned c : v) {
        if (!s.empty()) s += ',';
        s += std::to_string(c);
    }
    return s;
}
}  // namespace

std::optional<topology> topology::load(std::string* error) {
    hwloc_topology_t t = nullptr;
    if (hwloc_topology_init(&t) != 0) {
        if (error) *error = std::string("hwloc_topology_init failed: ") + std::strerror(errno);
        return std::nullopt;
    }
    if (hwloc_topology_load(t) != 0) {
        if (error) *error = std::string("hwloc_topology_load failed: ") + std::strerror(errno);
        hwloc_topology_destroy(t);
        return std::nullopt;
    }
    topology topo;
    topo._topo = t;
    const int npu = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU);
    topo._pu_count = npu > 0 ? static_cast<unsigned>(npu) : 0;
    int ncore = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE);
    const hwloc_obj_type_t unit = ncore > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
    if (ncore <= 0) ncore = npu;
    for (int i = 0; i < ncore; ++i) {
        hwloc_obj_t o = hwloc_get_obj_by_type(t, unit, static_cast<unsigned>(i));
        if (o == nullptr || o->cpuset == nullptr || hwloc_bitmap_iszero(o->cpuset)) continue;
        core_info c;
        unsigned pu;
        hwloc_bitmap_foreach_begin(pu, o->cpuset) { c.pus.push_back(pu); }
        hwloc_bitmap_foreach_end();
        c.cpu = c.pus.front();
        c.numa_node = o->nodeset != nullptr && !hwloc_bitmap_iszero(o->nodeset)
                          ? hwloc_bitmap_first(o->nodeset)
                          : -1;
        topo._cores.push_back(std::move(c));
    }
    std::sort(topo._cores.begin(), topo._cores.end(),
              [](const core_info& a, const core_info& b) { return a.cpu < b.cpu; });
    for (unsigned i = 0; i < topo._cores.size(); ++i) topo._cores[i].index = i;
    if (topo._cores.empty()) {
        if (error) *error = "hwloc reported no usable cores";
        return std::nullopt;
    }
    return topo;
}

topology::~topology() {
    if (_topo) hwloc_topology_destroy(h(_topo));
}

topology::topology(topology&& o) noexcept
    : _topo(std::exchange(o._topo, nullptr)), _cores(std::move(o._cores)), _pu_count(o._pu_count) {}

topology& topology::operator=(topology&& o) noexcept {
    if (this != &o) {
        if (_topo) hwloc_topology_destroy(h(_topo));
        _topo = std::exchange(o._topo, nullptr);
        _cores = std::move(o._cores);
        _pu_count = o._pu_count;
    }
    return *this;
}

topology topology::synthetic(std::vector<core_info> cores) {
    topology t;
    for (const auto& c : cores) t._pu_count += static_cast<unsigned>(c.pus.size());
    t._cores = std::move(cores);
    for (unsigned i = 0; i < t._cores.size(); ++i) t._cores[i].index = i;
    return t;
}

std::vector<int> topology::numa_nodes() const {
    std::set<int> s;
    for (const auto& c : _cores) s.insert(c.numa_node);
    return {s.begin(), s.end()};
}

const core_info* topology::core_of_cpu(unsigned cpu) const noexcept {
    for (const auto& c : _cores) {
        if (std::find(c.pus.begin(), c.pus.end(), cpu) != c.pus.end()) return &c;
    }
    return nullptr;
}

std::string topology::render() const {
    std::string out = std::to_string(_cores.size()) + " cores, " + std::to_string(_pu_count) +
                      " PUs, " + std::to_string(numa_nodes().size()) + " NUMA node(s)\n";
    for (int n : numa_nodes()) {
        out += "  node " + (n < 0 ? std::string("?") : std::to_string(n)) + ":";
        for (const auto& c : _cores) {
            if (c.numa_node != n) continue;
            out += " core " + std::to_string(c.index) + " (cpu " + cpu_list(c.pus) + ")";
        }
        out += '\n';
    }
    return out;
}

int numa_node_of_pci(std::string_view pci_address) {
    std::string a(pci_address);
    if (std::count(a.begin(), a.end(), ':') == 1) a = "0000:" + a;
    for (char c : a) {
        const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                        c == ':' || c == '.';
        if (!ok) return -1;  // never build a path out of anything else
    }
    std::ifstream in("/sys/bus/pci/devices/" + a + "/numa_node");
    int n = -1;
    if (!(in >> n)) return -1;
    return n;
}

namespace {

// "DDDD:BB:DD.F" (domain 4 hex digits, bus 2, device 2 (< 0x20), function 0-7) or "BB:DD.F";
// canonical lower-case form, "" if malformed.
std::string canonical_pci_address(std::string_view in) {
    std::string a;
    for (char c : in) a += static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    if (a.size() == 7) a = "0000:" + a;
    if (a.size() != 12 || a[4] != ':' || a[7] != ':' || a[10] != '.') return {};
    auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
    constexpr std::array<std::size_t, 8> digits{0, 1, 2, 3, 5, 6, 8, 9};
    for (std::size_t i : digits)
        if (!hex(a[i])) return {};
    // Device number: 5 bits (00..1f); function: 3 bits (0..7).
    if (a[8] > '1' || a[11] < '0' || a[11] > '7') return {};
    return a;
}

}  // namespace

std::optional<pci_device> find_pci_device(std::string_view pci_address, std::string* error,
                                          std::string_view sysfs_root) {
    auto fail = [&](std::string m) -> std::optional<pci_device> {
        if (error) *error = std::move(m);
        return std::nullopt;
    };
    pci_device d;
    d.address = canonical_pci_address(pci_address);
    if (d.address.empty()) {
        return fail("'" + std::string(pci_address) +
                    "' is not a PCI address (expected DDDD:BB:DD.F, e.g. 0000:3b:00.0)");
    }
    namespace fs = std::filesystem;
    const fs::path dir = fs::path(std::string(sysfs_root)) / "bus/pci/devices" / d.address;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        return fail("no PCI device " + d.address + " (" + dir.string() +
                    " does not exist; `ls /sys/bus/pci/devices` or `lspci -D` lists the devices)");
    }
    {
        std::ifstream in(dir / "numa_node");
        int n = -1;
        if (in >> n) d.numa_node = n < 0 ? -1 : n;
    }
    const fs::path drv = fs::read_symlink(dir / "driver", ec);
    if (!ec) d.driver = drv.filename().string();
    // Netdevs sit in net/ of the device or of a child device (virtio-net: virtioN/net/).
    auto add_netdevs = [&d](const fs::path& net) {
        std::error_code e;
        for (fs::directory_iterator it(net, e), end; !e && it != end; it.increment(e))
            d.interfaces.push_back(it->path().filename().string());
    };
    add_netdevs(dir / "net");
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code e;
        if (it->is_directory(e) && !it->is_symlink(e) && it->path().filename() != "net")
            add_netdevs(it->path() / "net");
    }
    std::sort(d.interfaces.begin(), d.interfaces.end());
    return d;
}

placement plan(const topology& t, const placement_request& req) {
    placement p;
    const auto& cores = t.cores();
    const unsigned ncores = static_cast<unsigned>(cores.size());

    // Core order for pipelines: preferred node first, then the rest, each by cpu number.
    std::vector<unsigned> order;  // indexes into cores
    for (unsigned i = 0; i < ncores; ++i) {
        if (req.preferred_numa >= 0 && cores[i].numa_node == req.preferred_numa) order.push_back(i);
    }
    const unsigned on_node = static_cast<unsigned>(order.size());
    for (unsigned i = 0; i < ncores; ++i) {
        if (!(req.preferred_numa >= 0 && cores[i].numa_node == req.preferred_numa)) order.push_back(i);
    }
    if (req.preferred_numa >= 0 && on_node == 0) {
        p.notes.push_back("no usable cores on NUMA node " + std::to_string(req.preferred_numa) +
                          " (the NIC's); pipelines placed on other nodes");
    }

    unsigned want = req.pipelines;
    if (want == 0) {
        // auto: every core of the preferred node (or machine), minus the two reserved cores
        // that cannot be found off that node.
        const unsigned pool = req.preferred_numa >= 0 && on_node > 0 ? on_node : ncores;
        const unsigned others = ncores - pool;
        const unsigned take = others >= 2 ? 0 : 2 - others;
        want = pool > take ? pool - take : 1;
    }

    // Reserve control (+ writer) cores, preferring core 0 for control and cores off the preferred
    // node so the NIC's node is left to pipelines.
    std::vector<unsigned> reserve_order;  // candidates for control/writer, best first
    if (ncores > 0) reserve_order.push_back(0);
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
        if (*it != 0) reserve_order.push_back(*it);
    }
    // Prefer off-node cores for the reserved ones.
    std::stable_partition(reserve_order.begin() + (reserve_order.empty() ? 0 : 1),
                          reserve_order.end(), [&](unsigned i) {
                              return !(req.preferred_numa >= 0 &&
                                       cores[i].numa_node == req.preferred_numa);
                          });

    std::set<unsigned> reserved;
    unsigned control = 0, writer = 0;
    if (ncores >= want + 2) {
        control = reserve_order[0];
        writer = reserve_order[1];
        reserved = {control, writer};
    } else if (ncores >= want + 1) {
        control = writer = reserve_order[0];
        reserved = {control};
        p.notes.push_back("writer and control threads share core " + std::to_string(control) +
                          " (" + std::to_string(ncores) + " cores for " + std::to_string(want) +
                          " pipeline(s))");
    } else {
        p.dedicated = false;
    }

    for (unsigned i : order) {
        if (p.pipeline_cpus.size() == want) break;
        if (reserved.count(i)) continue;
        p.pipeline_cpus.push_back(cores[i].cpu);
    }
    if (p.pipeline_cpus.size() < want) {
        // Not enough distinct cores: wrap around (oversubscribed, still one pipeline per cpu
        // entry; SMT siblings used only if there is nothing else).
        std::vector<unsigned> spare;  // second PUs of cores, then first PUs again
        for (unsigned i : order) {
            for (std::size_t k = 1; k < cores[i].pus.size(); ++k) spare.push_back(cores[i].pus[k]);
        }
        for (unsigned i : order) spare.push_back(cores[i].cpu);
        std::size_t k = 0;
        const bool smt = !spare.empty() && spare.size() > ncores;
        while (p.pipeline_cpus.size() < want && !spare.empty()) {
            p.pipeline_cpus.push_back(spare[k++ % spare.size()]);
        }
        p.notes.push_back(std::to_string(want) + " pipelines on " + std::to_string(ncores) +
                          " core(s): pipelines share cores" +
                          (smt ? " (SMT siblings used)" : "") +
                          "; expect lower throughput per pipeline");
    }
    if (!p.dedicated) {
        control = order.front();
        writer = order.back();
        p.notes.push_back("too few cores to dedicate: writer (cpu " +
                          std::to_string(cores[writer].cpu) + ") and control (cpu " +
                          std::to_string(cores[control].cpu) + ") share cores with pipelines");
    }
    p.control_cpu = cores[control].cpu;
    p.writer_cpu = cores[writer].cpu;
    p.numa_node = req.preferred_numa >= 0 && on_node > 0 ? req.preferred_numa : -1;
    return p;
}

std::string render(const topology& t, const placement& p) {
    std::string out;
    for (std::size_t i = 0; i < p.pipeline_cpus.size(); ++i) {
        const unsigned cpu = p.pipeline_cpus[i];
        const core_info* c = t.core_of_cpu(cpu);
        out += "  pipeline " + std::to_string(i) + ": cpu " + std::to_string(cpu);
        if (c) {
            out += " (core " + std::to_string(c->index) + ", node " +
                   (c->numa_node < 0 ? std::string("?") : std::to_string(c->numa_node)) + ")";
        }
        out += '\n';
    }
    out += "  writer:     cpu " + std::to_string(p.writer_cpu) + "\n";
    out += "  control:    cpu " + std::to_string(p.control_cpu) + " (Kafka server, admin HTTP)\n";
    out += std::string("  dedicated:  ") + (p.dedicated ? "yes" : "no") + "\n";
    for (const auto& n : p.notes) out += "  note: " + n + "\n";
    return out;
}

bool pin_current_thread(const topology& t, unsigned cpu, std::string* error) {
    if (t.native() == nullptr) {
        if (error) *error = "cannot pin: synthetic topology";
        return false;
    }
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (set == nullptr) {
        if (error) *error = "out of memory";
        return false;
    }
    hwloc_bitmap_only(set, cpu);
    const int rc = hwloc_set_cpubind(h(t.native()), set, HWLOC_CPUBIND_THREAD);
    const int e = errno;
    hwloc_bitmap_free(set);
    if (rc != 0) {
        if (error) *error = "cannot pin thread to cpu " + std::to_string(cpu) + ": " + std::strerror(e);
        return false;
    }
    return true;
}

}  // namespace sluice::topo
