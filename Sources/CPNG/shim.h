#ifndef CAIRN_CPNG_SHIM_H
#define CAIRN_CPNG_SHIM_H
// libpng's simplified API (png_image_*) reports errors through the png_image struct and needs
// no setjmp, so Swift can call it directly.
#include <png.h>

/// PNG_IMAGE_SIZE is a macro Swift cannot import; the row stride of a decoded image.
static inline unsigned int cairn_png_image_row_stride(const png_image *image) {
    return PNG_IMAGE_ROW_STRIDE(*image);
}
static inline unsigned int cairn_png_image_pixel_channels(unsigned int format) {
    return PNG_IMAGE_PIXEL_CHANNELS(format);
}
#endif
