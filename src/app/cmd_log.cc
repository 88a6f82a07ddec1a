// Stub: replaced by the owner of `sluice log`.
#include "commands.h"

#include <cstdio>

namespace sluice::app {

int cmd_log_verify(const log_verify_args&) {
    std::fprintf(stderr, "sluice log verify: not implemented yet\n");
    return 2;
}

int cmd_log_dump(const log_dump_args&) {
    std::fprintf(stderr, "sluice log dump: not implemented yet\n");
    return 2;
}

}  // namespace sluice::app
