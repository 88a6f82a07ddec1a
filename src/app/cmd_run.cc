// Stub: replaced by the owner of `sluice run`.
#include "commands.h"

#include <cstdio>

namespace sluice::app {

int cmd_run(const run_args&) {
    std::fprintf(stderr, "sluice run: not implemented yet\n");
    return 2;
}

}  // namespace sluice::app
