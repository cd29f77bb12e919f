// libchafa (terminal graphics) and the two GLib calls Swift needs around it.
#include <chafa.h>

// Takes a GString's text as a plain C string the caller frees with cairn_g_free
// (g_string_free is a macro in newer GLib, which Swift cannot call).
static inline char *cairn_gstring_take(GString *string) { return g_string_free(string, FALSE); }
static inline void cairn_g_free(void *pointer) { g_free(pointer); }
