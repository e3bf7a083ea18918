// Command example-product is a small product in Go, like the Rust example-product: the one-call
// check, then each feature named on the command line is gated (402 and its code when closed).
// Exit 0 all allowed, 3 something denied, 2 cannot judge.
//
//	example-product TRUST LICENSE_DIR STATE_DIR FEATURE...
package main

import (
	"errors"
	"fmt"
	"os"

	"example.invalid/airlock"
)

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: example-product TRUST LICENSE_DIR STATE_DIR FEATURE...")
		os.Exit(2)
	}
	st, err := airlock.Check(airlock.CheckOptions{Trust: os.Args[1], LicenseDir: os.Args[2], StateDir: os.Args[3], Now: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot run licensed work:", err)
		os.Exit(2)
	}
	defer st.Close()
	fmt.Println("license state:", st.State())
	code := 0
	for _, f := range os.Args[4:] {
		var ae *airlock.Error
		if err := st.Feature(f); errors.As(err, &ae) {
			fmt.Printf("feature %s: %d %s\n", f, ae.HTTPStatus, ae.Code)
			code = 3
		} else {
			fmt.Printf("feature %s: allowed\n", f)
		}
	}
	os.Exit(code)
}
