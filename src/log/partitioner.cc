// murmur2 and partition_for_key are inline in partitioner.h (the pipeline hashes every keyed
// event); this file keeps the header compiled on its own.

#include <sluice/log/partitioner.h>
