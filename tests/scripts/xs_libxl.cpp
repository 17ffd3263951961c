// xs-libxl: the xenstore writes libxl makes when it creates a domain and its
// devices, for the fake `xl` of the scripts level (the xenstore-* tools can
// neither introduce a domain nor set permissions inside a transaction).
//
//   xs-libxl domain D NAME              /local/domain/D (n0 rD) with name and
//                                       domid, then XS_INTRODUCE
//   xs-libxl tree FIXTURE [VAR=VALUE]...  a device tree from xenstore/examples/,
//                                       written in one transaction as libxl does

#include "tests/xenstore/harness.hpp"
#include "xen/xs_transaction.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace xenvhost;

namespace {

int usage() {
    std::fputs("usage: xs-libxl domain D NAME | tree FIXTURE [VAR=VALUE]...\n", stderr);
    return 2;
}

Result<> make_domain(const xen::Xenstore& xs, unsigned domid, const std::string& name) {
    std::string home = fmt::format("/local/domain/{}", domid);
    for (int attempt = 0; attempt < 50; ++attempt) {
        auto t = xen::XsTransaction::start(xs);
        if (!t) return std::unexpected(t.error());
        if (auto r = xs.mkdir(home, t->id()); !r) return r;
        xs_permissions perms[] = {{0, XS_PERM_NONE}, {domid, XS_PERM_READ}};
        if (auto r = xs.set_permissions(home, perms, t->id()); !r) return r;
        if (auto r = xs.write(home + "/name", name, t->id()); !r) return r;
        if (auto r = xs.write(home + "/domid", std::to_string(domid), t->id()); !r) return r;
        auto c = t->commit();
        if (!c) return std::unexpected(c.error());
        if (*c) return xs.introduce_domain(domid, 0x1000 + domid, 3);
    }
    return fail("transaction on {} kept conflicting", home);
}

// rm + mkdir + permissions + keys per section, all in one transaction
// (libxl__device_generic_add).
Result<> write_tree(const xen::Xenstore& xs, const xstest::Tree& tree) {
    for (int attempt = 0; attempt < 50; ++attempt) {
        auto t = xen::XsTransaction::start(xs);
        if (!t) return std::unexpected(t.error());
        for (auto& s : tree.sections) {
            if (auto r = xs.remove(s.path, t->id()); !r) return r;
            if (auto r = xs.mkdir(s.path, t->id()); !r) return r;
            std::vector<xs_permissions> perms;
            for (auto& p : s.perms) {
                auto perm = xen::parse_permission(p);
                if (!perm) return std::unexpected(perm.error());
                perms.push_back(*perm);
            }
            if (!perms.empty())
                if (auto r = xs.set_permissions(s.path, perms, t->id()); !r) return r;
            for (auto& [k, v] : s.keys)
                if (auto r = xs.write(s.path + "/" + k, v, t->id()); !r) return r;
        }
        auto c = t->commit();
        if (!c) return std::unexpected(c.error());
        if (*c) return {};
    }
    return fail("transaction kept conflicting");
}

Result<> run(int argc, char** argv) {
    std::string cmd = argv[1];
    auto xs = xen::Xenstore::open();
    if (!xs) return std::unexpected(xs.error());
    if (cmd == "domain") {
        char* end = nullptr;
        unsigned long domid = std::strtoul(argv[2], &end, 10);
        if (!*argv[2] || *end || domid == 0 || domid >= 0x7ff0) return fail("'{}' is not a guest domid", argv[2]);
        return make_domain(*xs, static_cast<unsigned>(domid), argv[3]);
    }
    xstest::Vars vars;
    for (int i = 3; i < argc; ++i) {
        std::string kv = argv[i];
        auto eq = kv.find('=');
        if (eq == std::string::npos) return fail("'{}' is not VAR=VALUE", kv);
        vars[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    auto tree = xstest::load_tree(argv[2], vars);
    if (!tree) return std::unexpected(tree.error());
    for (auto& s : tree->sections) {
        if (s.path.find("${") != std::string::npos) return fail("{}: a variable is not set", s.path);
        for (auto& [k, v] : s.keys)
            if (v.find("${") != std::string::npos) return fail("{}/{} = {}: a variable is not set", s.path, k, v);
    }
    return write_tree(*xs, *tree);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) return usage();
    std::string cmd = argv[1];
    if ((cmd == "domain" && argc != 4) || (cmd != "domain" && cmd != "tree")) return usage();
    if (auto r = run(argc, argv); !r) {
        std::fprintf(stderr, "xs-libxl: %s\n", r.error().message.c_str());
        return 1;
    }
    return 0;
}
