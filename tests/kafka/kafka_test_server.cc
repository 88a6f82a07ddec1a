// Test-only executable: opens a log_store over --data-dir and serves it with kafka::server until
// SIGTERM/SIGINT (clean stop) or SIGKILL (crash tests).
//   kafka_test_server --data-dir DIR [--listen HOST:PORT] [--topic NAME:PARTITIONS]...
//                     [--port-file FILE] [--flush-us N]

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <sluice/kafka/server.h>
#include <sluice/log/log_store.h>

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
    sluice::log::store_options so;
    sluice::kafka::server_options ko;
    ko.listen_port = 0;
    std::vector<sluice::log::topic_spec> topics;
    std::string port_file;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i], v = argv[i + 1];
        if (a == "--data-dir") {
            so.data_dir = v;
        } else if (a == "--listen") {
            if (!sluice::kafka::parse_host_port(v, ko.listen_host, ko.listen_port)) {
                std::fprintf(stderr, "bad --listen %s\n", v.c_str());
                return 2;
            }
        } else if (a == "--topic") {
            auto c = v.rfind(':');
            sluice::log::topic_spec t;
            t.name = v.substr(0, c);
            t.partitions = c == std::string::npos ? 1 : std::atoi(v.c_str() + c + 1);
            topics.push_back(t);
        } else if (a == "--port-file") {
            port_file = v;
        } else if (a == "--flush-us") {
            so.flush_interval_us = std::atoll(v.c_str());
        } else {
            std::fprintf(stderr, "unknown option %s\n", a.c_str());
            return 2;
        }
    }
    std::string err;
    auto store = sluice::log::log_store::open(so, &err);
    if (!store) {
        std::fprintf(stderr, "log_store: %s\n", err.c_str());
        return 1;
    }
    for (auto& t : topics) {
        if (!store->find_topic(t.name)) (void)store->create_topic(t, &err);
    }
    store->start();
    auto srv = sluice::kafka::server::create(*store, ko, &err);
    if (!srv || !srv->start(&err)) {
        std::fprintf(stderr, "kafka server: %s\n", err.c_str());
        return 1;
    }
    if (!port_file.empty()) {
        std::string tmp = port_file + ".tmp";
        std::ofstream(tmp) << srv->port() << "\n";
        std::rename(tmp.c_str(), port_file.c_str());
    }
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    srv->stop();
    store->stop();
    return 0;
}
