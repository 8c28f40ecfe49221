// The system zlib, exposed to Swift as the CZlib module: HTTP request bodies sent with
// `Content-Encoding: gzip` (Telegraf and the InfluxDB clients compress by default).
#include <zlib.h>
