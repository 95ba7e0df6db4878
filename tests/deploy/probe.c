/* A tiny probe copied into test images (the app image has no shell and no tools):
 *   probe ls DIR                  the names in DIR, one a line ("missing" if there is none)
 *   probe connect HOST:PORT...    one line each: HOST:PORT open|refused|unreachable|unresolved|timeout
 *   probe resolve HOST            HOST's IPv4 addresses, one a line, each once (exit 1: unresolved)
 * Linked only against the C library, which every image under test carries. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char* try_connect(const char* host, const char* port) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL) return "unresolved";
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const char* verdict = "unreachable";
  if (fd >= 0) {
    int rc = connect(fd, res->ai_addr, res->ai_addrlen);
    if (rc == 0) {
      verdict = "open";
    } else if (errno == EINPROGRESS) {
      struct pollfd p = {fd, POLLOUT, 0};
      /* A bound for a dropped SYN, not a synchronisation delay. */
      if (poll(&p, 1, 3000) == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        verdict = err == 0 ? "open" : err == ECONNREFUSED ? "refused" : "unreachable";
      } else {
        verdict = "timeout";
      }
    } else if (errno == ECONNREFUSED) {
      verdict = "refused";
    }
    close(fd);
  }
  freeaddrinfo(res);
  return verdict;
}

int main(int argc, char** argv) {
  if (argc >= 3 && strcmp(argv[1], "ls") == 0) {
    DIR* d = opendir(argv[2]);
    if (d == NULL) {
      puts("missing");
      return 0;
    }
    struct dirent* e;
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) puts(e->d_name);
    }
    closedir(d);
    return 0;
  }
  if (argc >= 2 && strcmp(argv[1], "connect") == 0) {
    for (int i = 2; i < argc; ++i) {
      char host[256];
      const char* colon = strrchr(argv[i], ':');
      if (colon == NULL || (size_t)(colon - argv[i]) >= sizeof host) return 64;
      memcpy(host, argv[i], (size_t)(colon - argv[i]));
      host[colon - argv[i]] = '\0';
      printf("%s %s\n", argv[i], try_connect(host, colon + 1));
    }
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "resolve") == 0) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(argv[2], NULL, &hints, &res) != 0) return 1;
    char seen[64][INET_ADDRSTRLEN];
    int n = 0;
    for (struct addrinfo* a = res; a != NULL && n < 64; a = a->ai_next) {
      char text[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &((struct sockaddr_in*)a->ai_addr)->sin_addr, text, sizeof text);
      int dup = 0;
      for (int i = 0; i < n; ++i) dup |= strcmp(seen[i], text) == 0;
      if (!dup) {
        strcpy(seen[n++], text);
        puts(text);
      }
    }
    freeaddrinfo(res);
    return 0;
  }
  fputs("usage: probe ls DIR | probe connect HOST:PORT... | probe resolve HOST\n", stderr);
  return 64;
}
