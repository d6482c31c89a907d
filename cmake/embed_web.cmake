# Embeds the built web UI (web/dist) into the server as a generated C table of assets,
# each with a gzip copy and an ETag (the first 16 hex digits of its SHA-256).
#
# Two uses:
#   include(cmake/embed_web.cmake)
#   im_embed_web(<out-var>)        # in CMakeLists.txt: <out-var> gets the generated .c
# and, run by the build through the custom command that im_embed_web adds:
#   cmake -DDIST=web/dist -DOUT=web_assets.c -DWORK=dir -P cmake/embed_web.cmake
#
# When web/dist has no index.html (npm was missing), the table holds one built-in
# index.html that says the UI was not built, so the server still builds and runs.

if(CMAKE_SCRIPT_MODE_FILE)
    # ---- generator (script mode) --------------------------------------------------------
    cmake_policy(VERSION 3.25)
    function(im_web_content_type path out)
        get_filename_component(ext "${path}" LAST_EXT)
        string(TOLOWER "${ext}" ext)
        set(type "application/octet-stream")
        if(ext STREQUAL ".html")
            set(type "text/html; charset=utf-8")
        elseif(ext STREQUAL ".js" OR ext STREQUAL ".mjs")
            set(type "text/javascript; charset=utf-8")
        elseif(ext STREQUAL ".css")
            set(type "text/css; charset=utf-8")
        elseif(ext STREQUAL ".json" OR ext STREQUAL ".map")
            set(type "application/json")
        elseif(ext STREQUAL ".svg")
            set(type "image/svg+xml")
        elseif(ext STREQUAL ".png")
            set(type "image/png")
        elseif(ext STREQUAL ".ico")
            set(type "image/x-icon")
        elseif(ext STREQUAL ".woff2")
            set(type "font/woff2")
        elseif(ext STREQUAL ".txt")
            set(type "text/plain; charset=utf-8")
        endif()
        set(${out} "${type}" PARENT_SCOPE)
    endfunction()

    # Writes `static const unsigned char <name>[] = {...};` for file into the variable out.
    function(im_web_c_array name file out)
        file(READ "${file}" hex HEX)
        string(LENGTH "${hex}" hex_len)
        if(hex_len EQUAL 0)
            set(${out} "static const unsigned char ${name}[1] = {0};\n" PARENT_SCOPE)
            return()
        endif()
        string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
        # 16 bytes (80 characters) per line keeps the file readable in a diff tool.
        string(REGEX REPLACE "((0x..,){16})" "\\1\n    " bytes "${bytes}")
        set(${out} "static const unsigned char ${name}[] = {\n    ${bytes}\n};\n" PARENT_SCOPE)
    endfunction()

    if(NOT DEFINED OUT OR NOT DEFINED WORK)
        message(FATAL_ERROR "embed_web.cmake: pass -DOUT=<file.c> -DWORK=<dir> [-DDIST=<dir>]")
    endif()
    file(REMOVE_RECURSE "${WORK}")
    file(MAKE_DIRECTORY "${WORK}")

    set(files "")
    if(DEFINED DIST AND EXISTS "${DIST}/index.html")
        get_filename_component(DIST "${DIST}" ABSOLUTE)
        file(GLOB_RECURSE files RELATIVE "${DIST}" "${DIST}/*")
        list(SORT files)
        if(NOT "index.html" IN_LIST files)
            message(FATAL_ERROR "embed_web.cmake: no index.html among the files of ${DIST}")
        endif()
    else()
        set(DIST "${WORK}/fallback")
        file(WRITE "${DIST}/index.html" [=[<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>InfraMon</title></head>
<body>
<h1>InfraMon</h1>
<p>The web UI was not built into this binary, because npm was not found when it was
compiled. The API works: see <a href="/api/docs">/api/docs</a>.</p>
<p>To get the UI, install Node.js 20 and npm, then run <code>make</code> again.</p>
</body>
</html>
]=])
        set(files "index.html")
    endif()

    set(arrays "")
    set(entries "")
    set(index 0)
    foreach(rel IN LISTS files)
        set(src "${DIST}/${rel}")
        im_web_content_type("${rel}" type)
        file(SHA256 "${src}" sha)
        string(SUBSTRING "${sha}" 0 16 etag)
        file(SIZE "${src}" size)

        im_web_c_array("asset_${index}" "${src}" array)
        string(APPEND arrays "${array}")

        # Keep the gzip copy only when it saves at least 5% (already compressed images
        # would only grow).
        set(gz "${WORK}/${index}.gz")
        file(ARCHIVE_CREATE OUTPUT "${gz}" PATHS "${src}" FORMAT raw COMPRESSION GZip
            COMPRESSION_LEVEL 9)
        file(SIZE "${gz}" gz_size)
        math(EXPR gz_limit "${size} * 95 / 100")
        if(gz_size LESS gz_limit)
            im_web_c_array("asset_${index}_gz" "${gz}" gz_array)
            string(APPEND arrays "${gz_array}")
            set(gz_ref "asset_${index}_gz")
        else()
            set(gz_ref "NULL")
            set(gz_size 0)
        endif()

        set(immutable "false")
        if(rel MATCHES "^assets/.+-[A-Za-z0-9_-]+\\.[A-Za-z0-9]+$")
            set(immutable "true")
        endif()
        string(APPEND entries "    {\"/${rel}\", \"${type}\", \"\\\"${etag}\\\"\", asset_${index}, "
            "${size}, ${gz_ref}, ${gz_size}, ${immutable}},\n")
        math(EXPR index "${index} + 1")
    endforeach()

    file(WRITE "${OUT}.tmp" "/* Generated by cmake/embed_web.cmake from web/dist. DO NOT EDIT. */
#include <stddef.h>

#include \"http/static.h\"

${arrays}
const im_web_asset_t im_web_assets[] = {
${entries}};
const size_t im_web_asset_count = ${index};
")
    # Replace the output only when it changed, so that an unchanged UI relinks nothing.
    file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
    file(REMOVE "${OUT}.tmp")
    return()
endif()

# ---- CMakeLists.txt side ---------------------------------------------------------------

set(IM_EMBED_WEB_SCRIPT "${CMAKE_CURRENT_LIST_FILE}")

# Adds the custom command that generates the asset table and stores its path in out_var.
# The glob re-runs at build time (CONFIGURE_DEPENDS), so a new web build with new hashed
# file names is picked up by the next `cmake --build`.
function(im_embed_web out_var)
    set(dist "${CMAKE_SOURCE_DIR}/web/dist")
    set(out "${CMAKE_BINARY_DIR}/generated/web_assets.c")
    file(GLOB_RECURSE web_files CONFIGURE_DEPENDS "${dist}/*")
    add_custom_command(OUTPUT "${out}"
        COMMAND ${CMAKE_COMMAND} -DDIST=${dist} -DOUT=${out}
            -DWORK=${CMAKE_BINARY_DIR}/generated/web_work -P ${IM_EMBED_WEB_SCRIPT}
        DEPENDS ${web_files} ${IM_EMBED_WEB_SCRIPT}
        COMMENT "Embedding the web UI from web/dist"
        VERBATIM)
    set(${out_var} "${out}" PARENT_SCOPE)
endfunction()
