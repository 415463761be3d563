// Package proctest runs the reference programs as processes for end-to-end
// tests: it builds them, starts them on free ports, waits for them with
// deadlines, signals them, and runs the real kubectl against them.
//
// Every helper takes the test and fails it on error; processes still
// running when the test ends are killed.
package proctest
