// The scanners are static inline in include/cbytescan.h; SwiftPM wants one source per C target.
#include "cbytescan.h"
