// Stub: replaced by the owner of `sluice gen`.
#include "commands.h"

#include <cstdio>

namespace sluice::app {

int cmd_gen(const gen_args&) {
    std::fprintf(stderr, "sluice gen: not implemented yet\n");
    return 2;
}

}  // namespace sluice::app
