// Package airlock is Airlock's verify-only license runtime for Go: libairlock (the Rust
// runtime's C ABI, crates/runtime-ffi) linked statically through cgo. See docs/SDK.md.
//
// Build with CGO_LDFLAGS naming the static library, e.g.
//
//	cargo build --release -p runtime-ffi
//	CGO_LDFLAGS="$PWD/target/release/libairlock.a" go build ./...
//
// Every refusal is an *Error carrying Kind (Rejected, Denied, Failed), Code (the check or
// denial code, the same as runtime-verify's), Message and HTTPStatus; errors.Is matches it
// against a sentinel of the same code, e.g. errors.Is(err, airlock.ErrLicenseRevoked).
package airlock

/*
#cgo CFLAGS: -I${SRCDIR}/../../crates/runtime-ffi/include
#cgo LDFLAGS: -ldl -lm -lpthread
#include <stdlib.h>
#include "airlock.h"
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"runtime"
	"unsafe"
)

// Kind says what failed.
type Kind int

const (
	// Rejected: a check failed.
	Rejected Kind = 1
	// Failed: a usage or local problem (code usage, io or internal).
	Failed Kind = 2
	// Denied: a feature or limit gate is closed (402).
	Denied Kind = 3
)

// Error is a refusal or an error.
type Error struct {
	Kind       Kind
	Code       string
	Message    string
	HTTPStatus int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is matches a sentinel with the same code (and kind, when the sentinel names one).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Kind == 0 || t.Kind == e.Kind)
}

// Code is a sentinel for errors.Is matching any error with this code.
func Code(code string) error { return &Error{Code: code} }

// Sentinels of the codes a product meets most.
var (
	ErrFeatureNotLicensed = Code("feature_not_licensed")
	ErrLicenseExpired     = Code("license_expired")
	ErrLicenseRevoked     = Code("license_revoked")
	ErrActivationRequired = Code("activation_required")
	ErrLeaseExpired       = Code("lease_expired")
	ErrSignatureInvalid   = Code("signature_invalid")
	ErrUsage              = Code("usage")
)

func cstr(s string) *C.char {
	if s == "" {
		return nil
	}
	return C.CString(s)
}

func free(p *C.char) {
	if p != nil {
		C.free(unsafe.Pointer(p))
	}
}

// errorOf turns a result and its error handle into an *Error (freeing the handle).
func errorOf(r C.airlock_result, e *C.airlock_error) error {
	if r == C.AIRLOCK_OK {
		return nil
	}
	defer C.airlock_error_free(e)
	return &Error{
		Kind:       Kind(r),
		Code:       C.GoString(C.airlock_error_code(e)),
		Message:    C.GoString(C.airlock_error_message(e)),
		HTTPStatus: int(C.airlock_error_http_status(e)),
	}
}

// Status is what the one-call check answered. It is safe for concurrent use; Close frees it
// (a finalizer does too).
type Status struct {
	p *C.airlock_status
}

// CheckOptions are the one-call check's inputs.
type CheckOptions struct {
	Trust, LicenseDir, StateDir string
	// Root is the vendor's root (base64 key or key id) for a first use; "" once the state pins it.
	Root string
	// Now is the Unix time the product's glue read, or -1 for the system clock.
	Now int64
}

// Check is the product's one call.
func Check(o CheckOptions) (*Status, error) {
	trust, lic, st, root := cstr(o.Trust), cstr(o.LicenseDir), cstr(o.StateDir), cstr(o.Root)
	defer free(trust)
	defer free(lic)
	defer free(st)
	defer free(root)
	opts := C.airlock_check_options{trust_path: trust, license_dir: lic, state_dir: st, root: root, now: C.int64_t(o.Now)}
	var s *C.airlock_status
	var e *C.airlock_error
	if err := errorOf(C.airlock_check(&opts, &s, &e), e); err != nil {
		return nil, err
	}
	status := &Status{p: s}
	runtime.SetFinalizer(status, (*Status).Close)
	return status, nil
}

// Close frees the status.
func (s *Status) Close() {
	if s.p != nil {
		C.airlock_status_free(s.p)
		s.p = nil
	}
}

// State is the combined state: active, expiring_soon, grace, expired, activation_required, ...
func (s *Status) State() string {
	defer runtime.KeepAlive(s)
	return C.GoString(C.airlock_status_state(s.p))
}

// Data is the whole status (the JSON of docs/SDK.md) decoded.
func (s *Status) Data() (map[string]any, error) {
	defer runtime.KeepAlive(s)
	var m map[string]any
	err := json.Unmarshal([]byte(C.GoString(C.airlock_status_json(s.p))), &m)
	return m, err
}

// Feature returns nil when name may be used, else a Denied *Error with its code and 402.
func (s *Status) Feature(name string) error {
	defer runtime.KeepAlive(s)
	n := C.CString(name)
	defer free(n)
	var e *C.airlock_error
	return errorOf(C.airlock_status_feature(s.p, n, &e), e)
}

// Limit returns nil when one more of name may start with inUse running.
func (s *Status) Limit(name string, inUse uint64) error {
	defer runtime.KeepAlive(s)
	n := C.CString(name)
	defer free(n)
	var e *C.airlock_error
	return errorOf(C.airlock_status_limit(s.p, n, C.uint64_t(inUse), &e), e)
}

func decode(r C.airlock_result, out *C.char, e *C.airlock_error) (map[string]any, error) {
	if err := errorOf(r, e); err != nil {
		return nil, err
	}
	defer C.airlock_string_free(out)
	var m map[string]any
	if err := json.Unmarshal([]byte(C.GoString(out)), &m); err != nil {
		return nil, fmt.Errorf("airlock: the verdict is not JSON: %w", err)
	}
	return m, nil
}

// Verify checks one signed artifact (trust, license, revocations, product-manifest,
// bundle-manifest, bundle) against a trust file anchored by root, without a state.
func Verify(kind, trust, root, doc, sig string, at int64, context string) (map[string]any, error) {
	k, t, r, d, s, c := cstr(kind), cstr(trust), cstr(root), cstr(doc), cstr(sig), cstr(context)
	defer free(k)
	defer free(t)
	defer free(r)
	defer free(d)
	defer free(s)
	defer free(c)
	var out *C.char
	var e *C.airlock_error
	return decode(C.airlock_verify(k, t, r, d, s, C.int64_t(at), c, &out, &e), out, e)
}

// VerifyBundle checks a delivery bundle with the state directory and, with extractDir (a new
// directory), extracts it once everything verified. sig "" is bundle + ".sig"; root "" once
// the state pins it; now -1 the system clock.
func VerifyBundle(bundle, sig, trust, root, stateDir, extractDir string, now int64) (map[string]any, error) {
	b, s, t, r, st, x := cstr(bundle), cstr(sig), cstr(trust), cstr(root), cstr(stateDir), cstr(extractDir)
	defer free(b)
	defer free(s)
	defer free(t)
	defer free(r)
	defer free(st)
	defer free(x)
	var out *C.char
	var e *C.airlock_error
	return decode(C.airlock_verify_bundle(b, s, t, r, st, x, C.int64_t(now), &out, &e), out, e)
}

// ImportRevocations imports a revocation list into the state directory.
func ImportRevocations(list, sig, trust, root, stateDir string, now int64) error {
	l, s, t, r, st := cstr(list), cstr(sig), cstr(trust), cstr(root), cstr(stateDir)
	defer free(l)
	defer free(s)
	defer free(t)
	defer free(r)
	defer free(st)
	var e *C.airlock_error
	return errorOf(C.airlock_import_revocations(l, s, t, r, st, C.int64_t(now), &e), e)
}

// Version is the runtime's version.
func Version() string { return C.GoString(C.airlock_version()) }
