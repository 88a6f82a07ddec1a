// Stub: replaced by the owner of `sluice stat`.
#include "commands.h"

#include <cstdio>

namespace sluice::app {

int cmd_stat(const stat_args&) {
    std::fprintf(stderr, "sluice stat: not implemented yet\n");
    return 2;
}

}  // namespace sluice::app
