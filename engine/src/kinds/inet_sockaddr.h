// An AF_INET/AF_INET6 socket address as the image keeps it (pb::InetSocket.local,
// .peer): the sockaddr_in/sockaddr_in6 bytes getsockname() returned. Part of
// flakelab_engine_image.
#pragma once

#include <cstdint>
#include <string>

namespace flakelab::engine {

// Why `addr` is not a sockaddr of `family` ("" if it is).
std::string inet_sockaddr_problem(uint32_t family, const std::string& addr);
// "127.0.0.1:8880", "[::1]:8880"; for people (show, errors).
std::string inet_sockaddr_text(const std::string& addr);
// Whether it names anything: not the wildcard address with port 0.
bool inet_sockaddr_is_set(const std::string& addr);
// Sets its port to 0 (a raw socket's "port" is its protocol); anything else is left alone.
void inet_sockaddr_clear_port(std::string& addr);

}  // namespace flakelab::engine
