/* GET /api/openapi.json, generated from the live route tables so that it cannot drift from
 * what the server routes, and GET /api/docs, a page that lists it. */
#include <string.h>

#include "api/api.h"
#include "core/util.h"

/* Adds the {name} segments of pattern as required path parameters. */
static json_t *path_parameters(const char *pattern)
{
    json_t *params = json_array();
    for (const char *p = strchr(pattern, '{'); p; p = strchr(p + 1, '{')) {
        const char *end = strchr(p, '}');
        if (!end) {
            break;
        }
        char name[64];
        size_t len = (size_t)(end - p - 1);
        if (len >= sizeof(name)) {
            len = sizeof(name) - 1;
        }
        memcpy(name, p + 1, len);
        name[len] = '\0';
        json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:{s:s}}", "name", name, "in",
                                                "path", "required", 1, "schema", "type", "string"));
    }
    return params;
}

static json_t *build_document(im_request_t *req)
{
    json_t *paths = json_object();
    for (const im_route_t *const *table = im_req_route_tables(req); *table; table++) {
        for (const im_route_t *r = *table; r->method; r++) {
            if (strcmp(r->pattern, "*") == 0) {
                continue; /* the web UI's catch-all route is not part of the API */
            }
            json_t *item = json_object_get(paths, r->pattern);
            if (!item) {
                item = json_object();
                json_object_set_new(paths, r->pattern, item);
            }
            char method[16];
            size_t n =
                strlen(r->method) < sizeof(method) - 1 ? strlen(r->method) : sizeof(method) - 1;
            for (size_t i = 0; i < n; i++) {
                method[i] = (char)(r->method[i] | 0x20);
            }
            method[n] = '\0';
            json_t *operation = json_pack("{s:s, s:o, s:s, s:{s:{s:s}}}", "summary",
                                          r->summary ? r->summary : r->pattern, "parameters",
                                          path_parameters(r->pattern), "x-required-role",
                                          im_role_name(r->min_role), "responses", "default",
                                          "description", "JSON body; errors are {\"detail\": ...}");
            if (r->min_role == IM_ROLE_PUBLIC) {
                json_object_set_new(operation, "security", json_array());
            }
            json_object_set_new(item, method, operation);
        }
    }
    return json_pack("{s:s, s:{s:s, s:s, s:s}, s:o, s:{s:{s:{s:s, s:s, s:s}}}, s:[{s:[]}]}",
                     "openapi", "3.0.3", "info", "title", "InfraMon API", "version", IM_VERSION,
                     "description",
                     "Generated from the server's route table. x-required-role is the minimum "
                     "role; errors are {\"detail\": message} with a matching status.",
                     "paths", paths, "components", "securitySchemes", "bearer", "type", "http",
                     "scheme", "bearer", "bearerFormat", "JWT", "security", "bearer");
}

static void get_openapi(im_request_t *req)
{
    im_resp_json(req, 200, build_document(req));
}

/* The page renders the document with a script from the same origin, as the CSP requires. */
static const char docs_page[] =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>InfraMon API</title><meta name=\"viewport\" content=\"width=device-width\">"
    "<link rel=\"icon\" href=\"data:,\">"
    "<style>body{font:14px system-ui,sans-serif;margin:2rem;max-width:70rem}"
    "td{padding:.2rem .8rem;border-bottom:1px solid #ccc}code{font-size:13px}</style>"
    "</head><body><h1>InfraMon API</h1>"
    "<p>Machine-readable: <a href=\"/api/openapi.json\">/api/openapi.json</a>. "
    "Send <code>Authorization: Bearer &lt;access token&gt;</code> from "
    "<code>POST /api/v1/auth/login</code>.</p>"
    "<table><thead><tr><th>method</th><th>path</th><th>role</th><th>description</th></tr>"
    "</thead>"
    "<tbody id=\"routes\"></tbody></table><script src=\"/api/docs.js\"></script></body></html>";

static const char docs_script[] =
    "fetch('/api/openapi.json').then(function(r){return r.json();}).then(function(doc){\n"
    "  var body = document.getElementById('routes');\n"
    "  Object.keys(doc.paths).sort().forEach(function(path){\n"
    "    Object.keys(doc.paths[path]).forEach(function(method){\n"
    "      var operation = doc.paths[path][method];\n"
    "      var row = document.createElement('tr');\n"
    "      [method.toUpperCase(), path, operation['x-required-role']]\n"
    "        .forEach(function(text){var cell = document.createElement('td');\n"
    "          var code = document.createElement('code'); code.textContent = text;\n"
    "          cell.appendChild(code); row.appendChild(cell);});\n"
    "      var summary = document.createElement('td');\n"
    "      summary.textContent = operation.summary;\n"
    "      row.appendChild(summary);\n"
    "      body.appendChild(row);\n"
    "    });\n"
    "  });\n"
    "});\n";

static void get_docs(im_request_t *req)
{
    im_resp_bytes(req, 200, "text/html; charset=utf-8", docs_page, sizeof(docs_page) - 1);
}

static void get_docs_script(im_request_t *req)
{
    im_resp_bytes(req, 200, "text/javascript; charset=utf-8", docs_script, sizeof(docs_script) - 1);
}

const im_route_t im_api_openapi_routes[] = {
    {"GET", "/api/openapi.json", IM_ROLE_PUBLIC, get_openapi, "This document"},
    {"GET", "/api/docs", IM_ROLE_PUBLIC, get_docs, "A page listing every endpoint"},
    {"GET", "/api/docs.js", IM_ROLE_PUBLIC, get_docs_script, "The script of /api/docs"},
    {NULL, NULL, IM_ROLE_PUBLIC, NULL, NULL},
};
