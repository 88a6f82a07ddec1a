#pragma once
// Machine topology (hwloc) and sluice's core placement: pipeline cores (one per RX queue, on the
// NIC's NUMA node, never two on SMT siblings), the io_uring writer core and the control core.
// Control plane: load and plan at start-up; pin_current_thread() is called once by each thread
// as it starts.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::topo {

// One physical core (or one PU when hwloc reports no cores).
struct core_info {
    unsigned index = 0;          // dense index in cores()
    unsigned cpu = 0;            // OS index of the core's first PU: what pins and logs use
    std::vector<unsigned> pus;   // OS indexes of all its PUs (SMT siblings)
    int numa_node = -1;          // OS index of its NUMA node, -1 if unknown
};

class topology {
public:
    // Loads the machine's topology (only the PUs this process may run on). nullopt + *error on
    // failure.
    [[nodiscard]] static std::optional<topology> load(std::string* error);
    // A topology built from a core list (tests, what-if plans); cannot pin.
    [[nodiscard]] static topology synthetic(std::vector<core_info> cores);
    ~topology();
    topology(topology&&) noexcept;
    topology& operator=(topology&&) noexcept;

    [[nodiscard]] const std::vector<core_info>& cores() const noexcept { return _cores; }
    [[nodiscard]] unsigned pu_count() const noexcept { return _pu_count; }
    [[nodiscard]] std::vector<int> numa_nodes() const;  // distinct node ids, ascending
    [[nodiscard]] const core_info* core_of_cpu(unsigned cpu) const noexcept;

    // One line per NUMA node and core, e.g. "node 0: core 0 (cpu 0,2) core 1 (cpu 1,3)".
    [[nodiscard]] std::string render() const;

    // Opaque hwloc handle (hwloc_topology_t) for pinning.
    [[nodiscard]] void* native() const noexcept { return _topo; }

private:
    topology() = default;
    void* _topo = nullptr;
    std::vector<core_info> _cores;
    unsigned _pu_count = 0;
};

// NUMA node of a PCI device ("0000:01:00.0" or "01:00.0") from sysfs; -1 if unknown.
[[nodiscard]] int numa_node_of_pci(std::string_view pci_address);

// A PCI device as sysfs describes it (<sysfs_root>/bus/pci/devices/<address>/).
struct pci_device {
    std::string address;                  // canonical, lower case: "0000:3b:00.0"
    int numa_node = -1;                   // from numa_node; -1 = the platform reports none
                                          // (single-node machines, most VMs)
    std::string driver;                   // bound kernel driver ("" = none), e.g. "vfio-pci"
    std::vector<std::string> interfaces;  // kernel netdevs on it (net/*, */net/*), sorted
};

// Looks a device up by PCI address ("DDDD:BB:DD.F" or "BB:DD.F", hex). nullopt + *error when the
// address is malformed or no such device exists. `sysfs_root` is for tests (a fake tree).
[[nodiscard]] std::optional<pci_device> find_pci_device(std::string_view pci_address, std::string* error,
                                                        std::string_view sysfs_root = "/sys");

struct placement_request {
    unsigned pipelines = 1;   // 0 = auto: one per free core on the preferred node (at least 1)
    int preferred_numa = -1;  // e.g. numa_node_of_pci(nic); -1 = none
};

struct placement {
    std::vector<unsigned> pipeline_cpus;  // OS cpu index per pipeline, in pipeline order
    unsigned writer_cpu = 0;
    unsigned control_cpu = 0;
    int numa_node = -1;                   // node the pipelines were placed on (-1 = any)
    bool dedicated = true;                // pipelines share their cores with nothing else
    std::vector<std::string> notes;       // compromises made (shared cores, oversubscription)
};

// Chooses cores. Rules, in order: pipelines on distinct physical cores (never two on SMT
// siblings) on the preferred node first; the control core (core 0 when possible) and writer core
// kept out of the pipelines' cores when there are enough cores (writer and control share one
// core when only one is left over); on small machines pipelines share with writer/control and
// `notes` says so. Never fails: pipelines always gets exactly the requested count (or the auto
// count).
[[nodiscard]] placement plan(const topology& t, const placement_request& req);

// Human-readable placement for `sluice plan`.
[[nodiscard]] std::string render(const topology& t, const placement& p);

// Binds the calling thread to `cpu` (an OS PU index). false + *error on failure.
bool pin_current_thread(const topology& t, unsigned cpu, std::string* error);

}  // namespace sluice::topo
