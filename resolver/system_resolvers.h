// The trusted resolvers by default: the nameservers of /etc/resolv.conf as c-ares
// reads them.
#pragma once

#include <string>
#include <vector>

#include "resolver/resolver_address.h"

namespace skouter::resolver {

// The nameservers of a resolv.conf file, as c-ares reads it. Throws
// std::runtime_error when c-ares cannot read it.
std::vector<ResolverAddress> nameserversOf(const std::string& resolv_conf);

// The resolvers that answer this host over the network. A local stub resolver
// (systemd-resolved's 127.0.0.53) answers over loopback, where skouter cannot hold
// answers, so its upstream servers are taken instead. `note` says what was chosen
// and why when it is not simply /etc/resolv.conf. Throws when only loopback
// resolvers are known.
std::vector<ResolverAddress> systemNameservers(
    std::string& note, const std::string& resolv_conf = "/etc/resolv.conf",
    const std::string& stub_upstream = "/run/systemd/resolve/resolv.conf");

}  // namespace skouter::resolver
