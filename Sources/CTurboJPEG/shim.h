#ifndef CAIRN_CTURBOJPEG_SHIM_H
#define CAIRN_CTURBOJPEG_SHIM_H
// TurboJPEG's tj* API returns error codes and needs no setjmp.
#include <stddef.h>
#include <turbojpeg.h>
#endif
