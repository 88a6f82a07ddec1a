#include <sluice/topo/topo.h>

#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

using namespace sluice::topo;

namespace {

// n cores, `smt` PUs each (sibling k of core i = i + k*n, as Linux numbers them), cores split
// evenly across `nodes` NUMA nodes.
topology fake(unsigned n, unsigned smt, unsigned nodes) {
    std::vector<core_info> cores;
    for (unsigned i = 0; i < n; ++i) {
        core_info c;
        for (unsigned k = 0; k < smt; ++k) c.pus.push_back(i + k * n);
        c.cpu = c.pus[0];
        c.numa_node = static_cast<int>(i / (n / nodes));
        cores.push_back(c);
    }
    return topology::synthetic(cores);
}

void expect_well_formed(const topology& t, const placement& p, unsigned want) {
    ASSERT_EQ(p.pipeline_cpus.size(), want);
    std::set<unsigned> phys;  // distinct physical cores among pipelines when possible
    for (unsigned cpu : p.pipeline_cpus) {
        const core_info* c = t.core_of_cpu(cpu);
        ASSERT_NE(c, nullptr) << "cpu " << cpu << " is not in the topology";
        phys.insert(c->index);
    }
    EXPECT_NE(t.core_of_cpu(p.writer_cpu), nullptr);
    EXPECT_NE(t.core_of_cpu(p.control_cpu), nullptr);
    if (want <= t.cores().size()) {
        EXPECT_EQ(phys.size(), want) << "two pipelines share a physical core or SMT siblings";
    }
    if (p.dedicated) {
        const unsigned w = t.core_of_cpu(p.writer_cpu)->index;
        const unsigned c = t.core_of_cpu(p.control_cpu)->index;
        EXPECT_EQ(phys.count(w), 0u) << "writer shares a pipeline core";
        EXPECT_EQ(phys.count(c), 0u) << "control shares a pipeline core";
    }
}

}  // namespace

TEST(topo_real, load_and_plan_on_this_machine) {
    std::string err;
    auto t = topology::load(&err);
    ASSERT_TRUE(t) << err;
    ASSERT_GE(t->cores().size(), 1u);
    EXPECT_GE(t->pu_count(), t->cores().size());
    EXPECT_FALSE(t->render().empty());
    for (unsigned want : {1u, 2u, 3u}) {
        placement p = plan(*t, {want, -1});
        expect_well_formed(*t, p, want);
        EXPECT_FALSE(render(*t, p).empty());
    }
    placement a = plan(*t, {0, -1});
    EXPECT_GE(a.pipeline_cpus.size(), 1u);
    expect_well_formed(*t, a, static_cast<unsigned>(a.pipeline_cpus.size()));
    if (t->cores().size() >= 2) {
        // 1 pipeline on >= 2 cores: the pipeline core is not the control core.
        placement p = plan(*t, {1, -1});
        EXPECT_TRUE(p.dedicated);
        EXPECT_NE(p.pipeline_cpus[0], p.control_cpu);
    }
}

TEST(topo_real, pin_current_thread) {
    std::string err;
    auto t = topology::load(&err);
    ASSERT_TRUE(t) << err;
    const unsigned cpu = t->cores().back().cpu;
    bool ok = false;
    int where = -1;
    std::thread th([&] {
        ok = pin_current_thread(*t, cpu, &err);
        where = sched_getcpu();
    });
    th.join();
    ASSERT_TRUE(ok) << err;
    EXPECT_EQ(where, static_cast<int>(cpu));
    EXPECT_FALSE(pin_current_thread(*t, 100000, &err));
}

TEST(topo_plan, reserves_control_and_writer_on_big_box) {
    topology t = fake(8, 2, 1);
    placement p = plan(t, {4, -1});
    expect_well_formed(t, p, 4);
    EXPECT_TRUE(p.dedicated);
    EXPECT_EQ(p.control_cpu, 0u);
    EXPECT_NE(p.writer_cpu, p.control_cpu);
    EXPECT_TRUE(p.notes.empty());
    for (unsigned cpu : p.pipeline_cpus) EXPECT_LT(cpu, 8u) << "pipeline on an SMT sibling";
}

TEST(topo_plan, prefers_nic_numa_node) {
    topology t = fake(8, 1, 2);  // node 0: cpus 0-3, node 1: cpus 4-7
    placement p = plan(t, {3, 1});
    expect_well_formed(t, p, 3);
    for (unsigned cpu : p.pipeline_cpus) EXPECT_EQ(t.core_of_cpu(cpu)->numa_node, 1);
    EXPECT_EQ(p.numa_node, 1);
    // writer and control go off the NIC node.
    EXPECT_EQ(t.core_of_cpu(p.control_cpu)->numa_node, 0);
    EXPECT_EQ(t.core_of_cpu(p.writer_cpu)->numa_node, 0);
    // auto: all 4 cores of node 1.
    placement a = plan(t, {0, 1});
    expect_well_formed(t, a, 4);
    for (unsigned cpu : a.pipeline_cpus) EXPECT_EQ(t.core_of_cpu(cpu)->numa_node, 1);
    // more than the node has: spills to node 0 but still distinct cores.
    placement s = plan(t, {5, 1});
    expect_well_formed(t, s, 5);
}

TEST(topo_plan, two_core_vm) {
    topology t = fake(2, 1, 1);
    placement p = plan(t, {1, -1});
    expect_well_formed(t, p, 1);
    EXPECT_TRUE(p.dedicated);
    EXPECT_EQ(p.control_cpu, 0u);
    EXPECT_EQ(p.writer_cpu, 0u);
    EXPECT_EQ(p.pipeline_cpus[0], 1u);
    EXPECT_FALSE(p.notes.empty());  // says writer and control share

    placement q = plan(t, {2, -1});
    expect_well_formed(t, q, 2);
    EXPECT_FALSE(q.dedicated);

    placement r = plan(t, {4, -1});  // oversubscribed: count still honoured
    expect_well_formed(t, r, 4);
    EXPECT_FALSE(r.notes.empty());

    placement a = plan(t, {0, -1});
    expect_well_formed(t, a, 1);
}

TEST(topo_plan, single_core) {
    topology t = fake(1, 2, 1);
    placement p = plan(t, {1, -1});
    expect_well_formed(t, p, 1);
    EXPECT_FALSE(p.dedicated);
    placement q = plan(t, {2, -1});
    ASSERT_EQ(q.pipeline_cpus.size(), 2u);
    EXPECT_NE(q.pipeline_cpus[0], q.pipeline_cpus[1]);  // uses the sibling before doubling up
}

TEST(topo_plan, pci_numa_lookup_rejects_junk) {
    EXPECT_EQ(numa_node_of_pci("../../etc/passwd"), -1);
    EXPECT_EQ(numa_node_of_pci("0000:ff:1f.7"), -1);  // almost certainly absent
}

// A fake sysfs tree with one NIC on NUMA node 1 and one device without NUMA information.
struct fake_sysfs {
    std::filesystem::path root;
    fake_sysfs() {
        namespace fs = std::filesystem;
        root = fs::temp_directory_path() / ("sluice-topo-sysfs-" + std::to_string(getpid()));
        fs::remove_all(root);
        const fs::path nic = root / "bus/pci/devices/0000:3b:00.0";
        fs::create_directories(nic / "net/ens1f0");
        fs::create_directories(nic / "net/ens1f0d1");
        fs::create_directories(root / "bus/pci/drivers/ice");
        std::ofstream(nic / "numa_node") << "1\n";
        fs::create_directory_symlink("../../../bus/pci/drivers/ice", nic / "driver");
        const fs::path vm = root / "bus/pci/devices/0000:00:03.0";
        fs::create_directories(vm / "virtio2/net/eth0");  // virtio-net: netdev on a child device
        fs::create_directories(vm / "power");
        std::ofstream(vm / "numa_node") << "-1\n";
    }
    ~fake_sysfs() { std::filesystem::remove_all(root); }
};

TEST(topo_pci, finds_a_device_and_its_numa_node) {
    fake_sysfs fs;
    std::string err;
    for (const char* a : {"0000:3b:00.0", "0000:3B:00.0", "3b:00.0"}) {
        auto d = find_pci_device(a, &err, fs.root.string());
        ASSERT_TRUE(d) << a << ": " << err;
        EXPECT_EQ(d->address, "0000:3b:00.0");
        EXPECT_EQ(d->numa_node, 1);
        EXPECT_EQ(d->driver, "ice");
        EXPECT_EQ(d->interfaces, (std::vector<std::string>{"ens1f0", "ens1f0d1"}));
    }
    auto vm = find_pci_device("0000:00:03.0", &err, fs.root.string());
    ASSERT_TRUE(vm) << err;
    EXPECT_EQ(vm->numa_node, -1);
    EXPECT_EQ(vm->driver, "");
    EXPECT_EQ(vm->interfaces, std::vector<std::string>{"eth0"});

    // The placement for that NIC: pipelines on its node, control and writer off it.
    topology t = fake(8, 2, 2);
    auto d = find_pci_device("0000:3b:00.0", &err, fs.root.string());
    ASSERT_TRUE(d);
    placement p = plan(t, {2, d->numa_node});
    expect_well_formed(t, p, 2);
    EXPECT_EQ(p.numa_node, 1);
    for (unsigned cpu : p.pipeline_cpus) EXPECT_EQ(t.core_of_cpu(cpu)->numa_node, 1) << cpu;
    EXPECT_EQ(t.core_of_cpu(p.control_cpu)->numa_node, 0);
    EXPECT_EQ(t.core_of_cpu(p.writer_cpu)->numa_node, 0);
}

TEST(topo_pci, missing_or_malformed_address_is_an_error) {
    fake_sysfs fs;
    std::string err;
    EXPECT_FALSE(find_pci_device("0000:ff:1f.7", &err, fs.root.string()));
    EXPECT_NE(err.find("no PCI device 0000:ff:1f.7"), std::string::npos) << err;
    for (const char* bad : {"", "../../etc/passwd", "0000:3b:00.8", "0000:3b:20.0", "0000:3b:00.0/..",
                            "00000:3b:00.0", "0000-3b-00.0", "zz:00.0", "0000:3b:00"}) {
        err.clear();
        EXPECT_FALSE(find_pci_device(bad, &err, fs.root.string())) << bad;
        EXPECT_NE(err.find("is not a PCI address"), std::string::npos) << bad << ": " << err;
    }
}

TEST(topo_pci, every_device_of_this_machine) {
    namespace fs = std::filesystem;
    std::error_code ec;
    std::size_t n = 0;
    for (fs::directory_iterator it("/sys/bus/pci/devices", ec), end; !ec && it != end; it.increment(ec)) {
        const std::string a = it->path().filename().string();
        std::string err;
        auto d = find_pci_device(a, &err);
        ASSERT_TRUE(d) << a << ": " << err;
        EXPECT_EQ(d->address, a);
        EXPECT_EQ(d->numa_node, numa_node_of_pci(a) < 0 ? -1 : numa_node_of_pci(a)) << a;
        ++n;
    }
    if (n == 0) GTEST_SKIP() << "no PCI devices under /sys/bus/pci/devices";
}
