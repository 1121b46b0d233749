#include "unix_image.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <climits>
#include <cstdio>
#include <map>
#include <set>

#include "flakelab/engine/error.h"

namespace flakelab::engine {
namespace {

std::string at(const char* list, int i, const char* field) {
  return std::string(list) + "[" + std::to_string(i) + "]." + field;
}

// "" if `name` can be bound/connected to, else why not. Relative paths would
// depend on the restorer's cwd: dump refuses them.
std::string bad_name(const std::string& name) {
  if (name.empty()) return "";
  if (name[0] == '\0') return name.size() > UnixLimits::kMaxName ? "abstract name is longer than sun_path" : "";
  if (name[0] != '/') return "\"" + name.substr(0, 64) + "\" is not an absolute path";
  if (name.size() >= UnixLimits::kMaxName) return "path does not fit sun_path";
  if (name.find('\0') != std::string::npos) return "path contains a NUL byte";
  return "";
}

}  // namespace

std::string unix_name_text(const std::string& name) {
  if (name.empty()) return "(unnamed)";
  if (name[0] != '\0') return name;
  std::string out = "@";
  for (size_t i = 1; i < name.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    if (c == 0) {
      out += "\\0";
    } else if (c < 0x20 || c >= 0x7f || c == '\\') {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

void validate_unix_sockets(const pb::Process& p, const std::string& file, const std::vector<const pb::Process*>& others) {
  auto fail = [&](const std::string& field, const std::string& problem) { throw ImageError(file, field, problem); };
  if (static_cast<uint64_t>(p.unix_sockets_size()) > ImageLimits::kMaxFds)
    fail("unix_sockets", "count " + std::to_string(p.unix_sockets_size()) + " exceeds the limit of " +
                             std::to_string(ImageLimits::kMaxFds));
  std::map<uint32_t, int> index;
  for (int i = 0; i < p.unix_sockets_size(); ++i) {
    const auto& s = p.unix_sockets(i);
    if (s.id() == 0) fail(at("unix_sockets", i, "id"), "must not be 0");
    if (!index.emplace(s.id(), i).second) fail(at("unix_sockets", i, "id"), std::to_string(s.id()) + " appears twice");
  }
  // Files, in every process of the tree: one per socket and process (a socket
  // has exactly one open file description).
  std::set<uint32_t> used;  // sockets some file refers to
  auto check_files = [&](const pb::Process& q, const std::string& name) {
    auto bad = [&](int i, const char* field, const std::string& problem) { throw ImageError(name, at("files", i, field), problem); };
    std::set<uint32_t> own;
    for (int i = 0; i < q.files_size(); ++i) {
      const auto& f = q.files(i);
      if (f.kind() != pb::FILE_UNIX_SOCKET) {
        if (f.unix_socket() != 0) bad(i, "unix_socket", "is set on a " + pb::FileKind_Name(f.kind()));
        continue;
      }
      if (!f.path().empty()) bad(i, "path", "must be empty for a socket");
      if ((f.flags() & O_ACCMODE) != O_RDWR || (f.flags() & ~static_cast<uint32_t>(O_ACCMODE | O_NONBLOCK)))
        bad(i, "flags", std::to_string(f.flags()) + " is not O_RDWR with or without O_NONBLOCK");
      if (!index.count(f.unix_socket())) bad(i, "unix_socket", std::to_string(f.unix_socket()) + " is not in unix_sockets");
      if (!own.insert(f.unix_socket()).second)
        bad(i, "unix_socket", "another file already refers to socket " + std::to_string(f.unix_socket()));
      used.insert(f.unix_socket());
    }
  };
  check_files(p, file);
  for (const pb::Process* o : others) check_files(*o, file + " (pid " + std::to_string(o->pid()) + ")");
  auto has_file = [&](uint32_t id) { return used.count(id) != 0; };
  auto sock = [&](uint32_t id) -> const pb::UnixSocket& { return p.unix_sockets(index.at(id)); };
  uint64_t total = 0;
  for (int i = 0; i < p.unix_sockets_size(); ++i) {
    const auto& s = p.unix_sockets(i);
    bool stream = s.type() == SOCK_STREAM || s.type() == SOCK_SEQPACKET;
    if (!stream && s.type() != SOCK_DGRAM) fail(at("unix_sockets", i, "type"), std::to_string(s.type()) + " is not a supported socket type");
    if (s.state() != TCP_ESTABLISHED && s.state() != TCP_CLOSE && s.state() != TCP_LISTEN)
      fail(at("unix_sockets", i, "state"), std::to_string(s.state()) + " is not a unix socket state");
    if (s.state() == TCP_LISTEN && !stream) fail(at("unix_sockets", i, "state"), "only stream and seqpacket sockets listen");
    if (std::string why = bad_name(s.name()); !why.empty()) fail(at("unix_sockets", i, "name"), why);
    if (s.name().empty() && s.owns_name()) fail(at("unix_sockets", i, "owns_name"), "is set without a name");
    if (s.path_unlinked() && (s.name().empty() || s.name()[0] != '/' || !s.owns_name()))
      fail(at("unix_sockets", i, "path_unlinked"), "is set on a socket that does not own a path");
    if (s.state() == TCP_LISTEN && !s.owns_name()) fail(at("unix_sockets", i, "name"), "a listener must own its name");
    if (s.shutdown() > 3) fail(at("unix_sockets", i, "shutdown"), std::to_string(s.shutdown()) + " has unknown bits");
    if (s.backlog() > UnixLimits::kMaxBacklog) fail(at("unix_sockets", i, "backlog"), std::to_string(s.backlog()) + " is out of range");
    if (s.sndbuf() > INT_MAX || s.rcvbuf() > INT_MAX) fail(at("unix_sockets", i, "sndbuf"), "buffer size is out of range");
    if (s.peek_off() < -1) fail(at("unix_sockets", i, "peek_off"), std::to_string(s.peek_off()) + " is out of range");
    if (std::string why = bad_name(s.external_peer()); !why.empty()) fail(at("unix_sockets", i, "external_peer"), why);
    if (!s.external_peer().empty() && s.peer() != 0) fail(at("unix_sockets", i, "external_peer"), "is set on a socket with a peer in the image");
    if (s.peer() != 0) {
      if (!index.count(s.peer())) fail(at("unix_sockets", i, "peer"), std::to_string(s.peer()) + " is not in unix_sockets");
      if (s.peer() == s.id() && stream) fail(at("unix_sockets", i, "peer"), "a stream socket cannot be its own peer");
      const auto& peer = sock(s.peer());
      if (peer.type() != s.type()) fail(at("unix_sockets", i, "peer"), "the peer has another type");
      if (s.state() == TCP_LISTEN) fail(at("unix_sockets", i, "peer"), "a listener has no peer");
      if (stream && peer.peer() != s.id()) fail(at("unix_sockets", i, "peer"), "the peer is not connected back");
      if (!stream && (peer.peer() != s.id() || peer.id() == s.id()) && (peer.name().empty() || !peer.owns_name()))
        fail(at("unix_sockets", i, "peer"), "a one-way datagram peer must own a name to connect to");
    }
    if (s.listener() != 0) {
      if (!index.count(s.listener())) fail(at("unix_sockets", i, "listener"), std::to_string(s.listener()) + " is not in unix_sockets");
      const auto& l = sock(s.listener());
      bool listed = false;
      for (uint32_t e : l.pending()) listed |= e == s.id();
      if (!listed) fail(at("unix_sockets", i, "listener"), "the listener does not list this pending connection");
      if (has_file(s.id())) fail(at("unix_sockets", i, "listener"), "a pending connection has no file");
      if (s.peer() == 0) fail(at("unix_sockets", i, "peer"), "a pending connection needs its client");
      if (s.owns_name()) fail(at("unix_sockets", i, "owns_name"), "a pending connection shows its listener's name");
    } else if (!has_file(s.id())) {
      fail(at("unix_sockets", i, "id"), std::to_string(s.id()) + " is not used by any file");
    }
    if (s.pending_size() > 0) {
      if (s.state() != TCP_LISTEN) fail(at("unix_sockets", i, "pending"), "only a listener has pending connections");
      if (static_cast<uint32_t>(s.pending_size()) > UnixLimits::kMaxBacklog + 1)
        fail(at("unix_sockets", i, "pending"), "count exceeds the limit");
      std::set<uint32_t> seen;
      for (uint32_t e : s.pending()) {
        if (!index.count(e) || sock(e).listener() != s.id())
          fail(at("unix_sockets", i, "pending"), std::to_string(e) + " is not a pending connection of this listener");
        if (!seen.insert(e).second) fail(at("unix_sockets", i, "pending"), std::to_string(e) + " appears twice");
      }
    }
    if (s.state() == TCP_LISTEN && s.queue_size() > 0) fail(at("unix_sockets", i, "queue"), "a listener has no data");
    if (static_cast<uint64_t>(s.queue_size()) > UnixLimits::kMaxMessages)
      fail(at("unix_sockets", i, "queue"), "count " + std::to_string(s.queue_size()) + " exceeds the limit of " +
                                               std::to_string(UnixLimits::kMaxMessages));
    for (int k = 0; k < s.queue_size(); ++k) {
      const auto& m = s.queue(k);
      std::string field = "unix_sockets[" + std::to_string(i) + "].queue[" + std::to_string(k) + "]";
      total += m.data().size();
      if (total > UnixLimits::kMaxQueuedBytes)
        fail(field + ".data", "queued bytes of all sockets exceed the limit of " + std::to_string(UnixLimits::kMaxQueuedBytes));
      if (!m.sender().empty() && s.type() != SOCK_DGRAM) fail(field + ".sender", "only datagrams carry a sender");
      if (std::string why = bad_name(m.sender()); !why.empty()) fail(field + ".sender", why);
      if (m.fds_size() > UnixLimits::kMaxFdsPerMessage)
        fail(field + ".fds", "count " + std::to_string(m.fds_size()) + " exceeds SCM_MAX_FD");
      for (uint32_t f : m.fds())
        if (f >= static_cast<uint32_t>(p.files_size())) fail(field + ".fds", std::to_string(f) + " is not an index into files");
      if (m.data().empty() && s.type() == SOCK_STREAM) fail(field + ".data", "a stream chunk is never empty");
    }
  }
}

std::string show_unix_sockets(const pb::Process& p, const std::vector<const pb::Process*>& others) {
  if (p.unix_sockets_size() == 0) return "";
  // Sockets some fd of the tree refers to.
  std::set<uint32_t> held;
  std::vector<const pb::Process*> all = {&p};
  all.insert(all.end(), others.begin(), others.end());
  for (const pb::Process* q : all)
    for (const auto& fd : q->fds())
      if (fd.file() < static_cast<uint32_t>(q->files_size()) && q->files(static_cast<int>(fd.file())).kind() == pb::FILE_UNIX_SOCKET)
        held.insert(q->files(static_cast<int>(fd.file())).unix_socket());
  std::string out = "unix sockets " + std::to_string(p.unix_sockets_size()) + "\n";
  char buf[256];
  for (const auto& s : p.unix_sockets()) {
    const char* type = s.type() == SOCK_STREAM ? "stream" : s.type() == SOCK_DGRAM ? "dgram" : "seqpacket";
    const char* state = s.state() == TCP_LISTEN ? "listen" : s.state() == TCP_ESTABLISHED ? "connected" : "unconnected";
    snprintf(buf, sizeof(buf), "  #%u %s %s ino %llu", s.id(), type, state, static_cast<unsigned long long>(s.inode()));
    out += buf;
    out += " name " + unix_name_text(s.name()) + (s.name().empty() || s.owns_name() ? "" : " (its listener's)");
    if (s.path_unlinked()) out += " (unlinked)";
    if (s.peer()) out += " peer #" + std::to_string(s.peer());
    if (!s.external_peer().empty()) out += " external peer " + unix_name_text(s.external_peer());
    if (s.listener()) out += " pending in #" + std::to_string(s.listener());
    if (s.state() == TCP_LISTEN) out += " backlog " + std::to_string(s.backlog()) + " pending " + std::to_string(s.pending_size());
    if (s.shutdown()) out += " shutdown " + std::string(s.shutdown() & 1 ? "rd" : "") + (s.shutdown() & 2 ? "wr" : "");
    if (s.passcred()) out += " passcred";
    if (s.listener() == 0 && !held.count(s.id())) out += " (in flight only)";
    out += "\n";
    for (const auto& m : s.queue()) {
      snprintf(buf, sizeof(buf), "    queued %zu bytes", m.data().size());
      out += buf;
      if (!m.sender().empty()) out += " from " + unix_name_text(m.sender());
      if (m.fds_size() > 0) {
        out += " with files";
        for (uint32_t fd : m.fds()) out += " " + std::to_string(fd);
      }
      out += "\n";
    }
  }
  return out;
}

}  // namespace flakelab::engine
