/*
 * registry.c - the layers this build has, in the order they run at each
 * stage, made from layers.def.  The core knows the list only through
 * the symbols layer_registry and layer_count (core/core.h).
 */
#include <stddef.h>

#include "../core/layer.h"

#define LAYER(name, comment) extern const struct layer_desc layer_##name;
#include "layers.def"
#undef LAYER

const struct layer_desc *const layer_registry[] = {
#define LAYER(name, comment) &layer_##name,
#include "layers.def"
#undef LAYER
};

const size_t layer_count = sizeof(layer_registry) / sizeof(*layer_registry);

/* Sections of policy.conf that name layers still to come (ARCHITECTURE.md):
 * refused with a clear message instead of "unknown section". */
const char *const layer_reserved[] = {NULL};
