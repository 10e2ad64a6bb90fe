/*
 * counter.c - four processes increment one shared counter; the parent prints the total.
 *
 *   cc counter.c $(pkg-config --cflags --libs ultradict) -o counter && ./counter
 */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ultradict.h>

int main(void) {
    ud_dict *d;
    int rc = ud_open(NULL, &d); /* a new dict with a random name, unlinked when we close it */
    if (rc) {
        fprintf(stderr, "ud_open: %s\n", ud_strerror(rc));
        return 1;
    }
    for (int p = 0; p < 4; p++) {
        if (fork() == 0) {
            for (int i = 0; i < 10000; i++)
                if (ud_incr(d, "hits", 4, 1, NULL) != 0)
                    _exit(1);
            _exit(0);
        }
    }
    int status, failed = 0;
    while (wait(&status) > 0)
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;

    ud_buf v = UD_BUF_INIT;
    rc = ud_get(d, "hits", 4, &v);
    if (rc == 0)
        printf("%s: hits = %s\n", ud_name(d), (char *)v.data);
    ud_buf_free(&v);
    ud_close(d);
    return rc || failed;
}
