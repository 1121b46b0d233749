#include "unix_peek.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "flakelab/base/scm_rights.h"
#include "flakelab/engine/error.h"
#include "unix_image.h"
#include "unix_socket_common.h"

namespace flakelab::engine::unix_detail {
namespace {

using base::UniqueFd;

constexpr size_t kPeekChunk = 64 * 1024;

std::vector<UniqueFd> take_rights(const msghdr& m, const std::string& where) {
  base::ReceivedRights rights = base::take_rights(m);
  if (rights.control_truncated) throw EngineError("dump " + where + ": control data of a queued message was truncated");
  return std::move(rights.fds);
}

}  // namespace

std::vector<Peeked> peek_queue(int s, uint32_t type, const std::string& where) {
  int old_off = get_int_opt(s, SO_PEEK_OFF, "dump " + where + ": getsockopt SO_PEEK_OFF");
  int zero = 0;
  if (setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) != 0)
    throw_errno("dump " + where + ": setsockopt SO_PEEK_OFF");
  struct PutBack {
    int s, off;
    ~PutBack() { setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off)); }
  } put_back{s, old_off};
  std::vector<Peeked> out;
  std::vector<char> buf(kPeekChunk);
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kScmMaxFd) + CMSG_SPACE(64)];
  uint64_t total = 0;
  for (;;) {
    sockaddr_un from{};
    base::ReceiveHeader header(buf.data(), buf.size(), control, sizeof(control), &from);
    const msghdr& m = header.header();
    int flags = MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC | (type == SOCK_STREAM ? 0 : MSG_TRUNC);
    ssize_t n = recvmsg(s, header.get(), flags);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) throw_errno("dump " + where + ": recvmsg MSG_PEEK");
    Peeked msg;
    msg.fds = take_rights(m, where);
    if (type == SOCK_STREAM) {
      if (n == 0) break;  // end of stream (the peer shut down): nothing more queued
      msg.data.assign(buf.data(), static_cast<size_t>(n));
    } else {
      // With MSG_TRUNC, n is what is left of the record; the rest of a record
      // longer than the buffer is peeked on from the advanced offset.
      size_t want = static_cast<size_t>(n);
      msg.data.assign(buf.data(), std::min(want, buf.size()));
      if (type == SOCK_DGRAM && m.msg_namelen > offsetof(sockaddr_un, sun_path)) {
        msg.named_sender = true;
        msg.sender.assign(from.sun_path, m.msg_namelen - offsetof(sockaddr_un, sun_path));
        if (msg.sender[0] != '\0') msg.sender = msg.sender.substr(0, strnlen(msg.sender.data(), msg.sender.size()));
      }
      while (msg.data.size() < want) {
        if (want > UnixLimits::kMaxQueuedBytes)
          throw EngineError("dump " + where + ": a queued message of " + std::to_string(want) + " bytes is over the limit");
        base::ReceiveHeader rest(buf.data(), std::min(buf.size(), want - msg.data.size()), control, sizeof(control));
        ssize_t k = recvmsg(s, rest.get(), MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (k <= 0) throw_errno("dump " + where + ": recvmsg MSG_PEEK (rest of a record)", k < 0 ? errno : EIO);
        take_rights(rest.header(), where);  // the same files again: closed here
        msg.data.append(buf.data(), static_cast<size_t>(k));
      }
    }
    total += msg.data.size();
    if (total > UnixLimits::kMaxQueuedBytes || out.size() >= UnixLimits::kMaxMessages)
      throw EngineError("dump " + where + ": the receive queue holds more than " +
                        std::to_string(UnixLimits::kMaxQueuedBytes) + " bytes or " +
                        std::to_string(UnixLimits::kMaxMessages) + " messages");
    out.push_back(std::move(msg));
  }
  return out;
}

}  // namespace flakelab::engine::unix_detail
