// `sluice log verify DIR` and `sluice log dump DIR ...`: thin wrappers over the log's offline
// tools (include/sluice/log/tools.h).

#include <iostream>

#include <sluice/log/tools.h>

#include "commands.h"

namespace sluice::app {

int cmd_log_verify(const log_verify_args& a) {
    log::verify_options o;
    o.data_dir = a.dir;
    return log::verify_data_dir(o, std::cout, std::cerr);
}

int cmd_log_dump(const log_dump_args& a) {
    log::dump_options o;
    o.data_dir = a.dir;
    o.topic = a.topic;
    o.partition = a.partition;
    o.from_offset = a.from.value_or(0);
    if (a.format == "json") {
        o.format = log::dump_format::json;
    } else if (a.format == "text") {
        o.format = log::dump_format::text;
    } else {
        std::cerr << "sluice log dump: --format must be text or json, not '" << a.format << "'\n";
        return 2;
    }
    std::ios::sync_with_stdio(false);
    return log::dump_data_dir(o, std::cout, std::cerr);
}

}  // namespace sluice::app
