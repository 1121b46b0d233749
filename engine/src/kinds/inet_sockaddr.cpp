#include "inet_sockaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstring>

namespace flakelab::engine {

std::string inet_sockaddr_problem(uint32_t family, const std::string& addr) {
  size_t want = family == AF_INET ? sizeof(sockaddr_in) : family == AF_INET6 ? sizeof(sockaddr_in6) : 0;
  if (want == 0) return "family " + std::to_string(family) + " is not AF_INET or AF_INET6";
  if (addr.size() != want)
    return std::to_string(addr.size()) + " bytes, not the " + std::to_string(want) + " of the family's sockaddr";
  sa_family_t got;
  std::memcpy(&got, addr.data(), sizeof(got));
  if (got != family) return "its sa_family " + std::to_string(got) + " is not the socket's " + std::to_string(family);
  return "";
}

std::string inet_sockaddr_text(const std::string& addr) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (addr.size() == sizeof(sockaddr_in)) {
    sockaddr_in a;
    std::memcpy(&a, addr.data(), sizeof(a));
    inet_ntop(AF_INET, &a.sin_addr, host, sizeof(host));
    return std::string(host) + ":" + std::to_string(ntohs(a.sin_port));
  }
  if (addr.size() == sizeof(sockaddr_in6)) {
    sockaddr_in6 a;
    std::memcpy(&a, addr.data(), sizeof(a));
    inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof(host));
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(a.sin6_port));
  }
  return addr.empty() ? "-" : "(" + std::to_string(addr.size()) + " bytes)";
}

void inet_sockaddr_clear_port(std::string& addr) {
  // sin_port and sin6_port are at the same offset, right after the family.
  if (addr.size() == sizeof(sockaddr_in) || addr.size() == sizeof(sockaddr_in6))
    addr[offsetof(sockaddr_in, sin_port)] = addr[offsetof(sockaddr_in, sin_port) + 1] = '\0';
}

bool inet_sockaddr_is_set(const std::string& addr) {
  if (addr.size() == sizeof(sockaddr_in)) {
    sockaddr_in a;
    std::memcpy(&a, addr.data(), sizeof(a));
    return a.sin_port != 0 || a.sin_addr.s_addr != htonl(INADDR_ANY);
  }
  if (addr.size() == sizeof(sockaddr_in6)) {
    sockaddr_in6 a;
    std::memcpy(&a, addr.data(), sizeof(a));
    return a.sin6_port != 0 || !IN6_IS_ADDR_UNSPECIFIED(&a.sin6_addr);
  }
  return false;
}

}  // namespace flakelab::engine
