/* Offline user administration:
 * `inframon user create|list|passwd|disable|enable|reset-totp`. */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "api/api.h"
#include "auth/password.h"
#include "core/util.h"
#include "http/http.h"

/* Reads one line from stdin as the password. At a terminal it prompts and turns the echo
 * off while the password is typed. Prints the reason and returns false when there is none
 * or it is not acceptable. */
static bool read_password(char *out, size_t size)
{
    struct termios saved;
    bool hidden = false;

    if (isatty(STDIN_FILENO)) {
        /* The echo goes off before the prompt, so nothing typed after it is shown. */
        if (tcgetattr(STDIN_FILENO, &saved) == 0) {
            struct termios quiet = saved;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            hidden = tcsetattr(STDIN_FILENO, TCSANOW, &quiet) == 0;
        }
        fprintf(stderr, "password: ");
    }
    bool got_line = fgets(out, (int)size, stdin) != NULL;
    if (hidden) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        fputc('\n', stderr);
    }
    if (!got_line) {
        fprintf(stderr, "inframon: missing password: type it at the prompt or send it as one "
                        "line on standard input\n");
        return false;
    }
    out[strcspn(out, "\r\n")] = '\0';
    char why[128];
    if (!im_password_acceptable(out, why, sizeof(why))) {
        fprintf(stderr, "inframon: %s\n", why);
        return false;
    }
    return true;
}

static int user_create(im_store_t *store, int argc, char **argv)
{
    im_store_user_t user = {.is_active = true};
    const char *role = "viewer", *email = NULL;
    if (argc < 1) {
        fprintf(stderr, "inframon: usage: inframon user create NAME [--role ROLE] "
                        "[--email EMAIL]\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--role") == 0) {
            role = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--email") == 0) {
            email = argv[++i];
        } else {
            fprintf(stderr, "inframon: unknown or incomplete option \"%s\"\n", argv[i]);
            return 2;
        }
    }
    im_role_t parsed;
    if (!im_api_valid_username(argv[0])) {
        fprintf(stderr,
                "inframon: invalid user name \"%s\": use 3 to 50 characters of "
                "A-Z, a-z, 0-9, _ and -\n",
                argv[0]);
        return 2;
    }
    if (!im_role_parse(role, &parsed)) {
        fprintf(stderr, "inframon: invalid role \"%s\": use admin, operator or viewer\n", role);
        return 2;
    }
    char default_email[IM_STORE_EMAIL_MAX + 1];
    if (!email) {
        snprintf(default_email, sizeof(default_email), "%s@localhost", argv[0]);
        email = default_email;
    }
    if (!im_api_valid_email(email)) {
        fprintf(stderr, "inframon: invalid email \"%s\"\n", email);
        return 2;
    }
    char password[256];
    if (!read_password(password, sizeof(password))) {
        return 2;
    }
    im_strlcpy(user.username, argv[0], sizeof(user.username));
    im_strlcpy(user.email, email, sizeof(user.email));
    im_strlcpy(user.role, role, sizeof(user.role));
    int rc = im_password_hash(password, IM_BCRYPT_COST, user.password_hash);
    explicit_bzero(password, sizeof(password));
    if (rc == IM_OK) {
        rc = im_store_user_create(store, &user);
    }
    if (rc == IM_ECONFLICT) {
        fprintf(stderr, "inframon: user name or email already taken\n");
        return 1;
    }
    if (rc != IM_OK) {
        fprintf(stderr, "inframon: cannot create the user (error %d)\n", rc);
        return 1;
    }
    printf("created %s user \"%s\" (id %lld)\n", user.role, user.username, (long long)user.id);
    return 0;
}

static int user_list(im_store_t *store)
{
    im_store_user_filter_t filter = {.limit = IM_STORE_PAGE_LIMIT_MAX};
    printf("%-6s %-24s %-9s %-7s %s\n", "ID", "USERNAME", "ROLE", "ACTIVE", "EMAIL");
    for (;;) {
        im_store_user_page_t page = {0};
        if (im_store_user_list(store, &filter, &page) != IM_OK) {
            fprintf(stderr, "inframon: cannot list users\n");
            return 1;
        }
        for (size_t i = 0; i < page.count; i++) {
            const im_store_user_t *u = &page.users[i];
            printf("%-6lld %-24s %-9s %-7s %s\n", (long long)u->id, u->username, u->role,
                   u->is_active ? "yes" : "no", u->email);
        }
        size_t count = page.count;
        im_store_user_page_release(&page);
        filter.offset += (int64_t)count;
        if (count < (size_t)filter.limit) {
            return 0;
        }
    }
}

static int user_modify(im_store_t *store, const char *action, const char *name)
{
    im_store_user_t user;
    int rc = im_store_user_get_by_name(store, name, &user);
    if (rc == IM_ENOTFOUND) {
        fprintf(stderr, "inframon: user \"%s\" not found\n", name);
        return 1;
    }
    if (rc != IM_OK) {
        fprintf(stderr, "inframon: cannot read user \"%s\" (error %d)\n", name, rc);
        return 1;
    }
    bool revoke = true;
    if (strcmp(action, "passwd") == 0) {
        char password[256];
        if (!read_password(password, sizeof(password))) {
            return 2;
        }
        rc = im_password_hash(password, IM_BCRYPT_COST, user.password_hash);
        explicit_bzero(password, sizeof(password));
    } else if (strcmp(action, "disable") == 0) {
        user.is_active = false;
    } else {
        user.is_active = true;
        revoke = false;
    }
    if (rc == IM_OK) {
        rc = im_store_user_update(store, &user);
    }
    if (rc == IM_OK && revoke) {
        rc = im_store_session_revoke_user(store, user.id, NULL, im_now());
    }
    if (rc != IM_OK) {
        fprintf(stderr, "inframon: cannot update user \"%s\" (error %d)\n", name, rc);
        return 1;
    }
    printf("user \"%s\": %s done%s\n", name, action, revoke ? ", sessions ended" : "");
    return 0;
}

/* Removes a user's TOTP second factor and recovery codes, so that the password alone logs
 * in again. This is the way out when a TOTP secret was stored under a lost SECRET_KEY. */
static int user_reset_totp(im_store_t *store, const char *name)
{
    im_store_user_t user;
    int rc = im_store_user_get_by_name(store, name, &user);
    if (rc == IM_ENOTFOUND) {
        fprintf(stderr, "inframon: user \"%s\" not found\n", name);
        return 1;
    }
    if (rc == IM_OK) {
        rc = im_store_totp_delete(store, user.id);
    }
    if (rc == IM_ENOTFOUND) {
        printf("user \"%s\": no TOTP second factor to reset\n", name);
        return 0;
    }
    if (rc != IM_OK) {
        fprintf(stderr, "inframon: cannot reset TOTP of user \"%s\" (error %d)\n", name, rc);
        return 1;
    }
    printf("user \"%s\": TOTP second factor and recovery codes removed\n", name);
    return 0;
}

int im_cli_user(im_store_t *store, int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : "";
    if (strcmp(sub, "create") == 0) {
        return user_create(store, argc - 1, argv + 1);
    }
    if (strcmp(sub, "list") == 0) {
        return user_list(store);
    }
    if ((strcmp(sub, "passwd") == 0 || strcmp(sub, "disable") == 0 || strcmp(sub, "enable") == 0) &&
        argc == 2) {
        return user_modify(store, sub, argv[1]);
    }
    if (strcmp(sub, "reset-totp") == 0 && argc == 2) {
        return user_reset_totp(store, argv[1]);
    }
    fprintf(stderr,
            "inframon: usage: inframon user create|list|passwd|disable|enable|reset-totp ...\n");
    return 2;
}
