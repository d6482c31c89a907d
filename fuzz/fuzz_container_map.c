/* Fuzzes the mapping of the engine's container JSON (list items, inspect documents and
 * file-system changes) into the API's shapes. A hostile or broken engine controls it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/util.h"

#include <jansson.h>

#include "engine/containers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = im_strndup((const char *)data, size);
    (void)im_container_ref_is_valid(text);
    (void)im_container_name_is_valid(text);
    free(text);
    json_t *doc = json_loadb((const char *)data, size, 0, NULL);
    if (!doc) {
        return 0;
    }
    json_decref(im_container_map_list_item(doc));
    json_decref(im_container_map_detail(doc, true));
    json_decref(im_container_map_detail(doc, false));
    json_decref(im_container_mask_inspect(doc));
    json_decref(im_container_map_diff("0123456789ab", doc));
    im_container_filter_t filter = {.status = "stopped", .search = "web", .compose_project = "p"};
    json_t *item = im_container_map_list_item(doc);
    if (item) {
        (void)im_container_matches(item, &filter);
        json_decref(item);
    }
    json_decref(doc);
    return 0;
}
