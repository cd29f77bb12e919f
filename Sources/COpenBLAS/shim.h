// OpenBLAS's CBLAS interface plus its own queries (thread count, build configuration).
#include <cblas.h>
