# wasi_thread_start(tid, arg), the start routine of every thread but the main one. Each instance
# has its own __stack_pointer global, which starts at the main thread's stack: it must point at
# this thread's own stack before any C code runs, so this is assembly. `arg` points at a struct
# whose first word is the top of the thread's stack (mutex_counter.c, struct thread_start).
	.globaltype __stack_pointer, i32
	.functype thread_main (i32, i32) -> ()
	.globl wasi_thread_start
	.type wasi_thread_start,@function
wasi_thread_start:
	.functype wasi_thread_start (i32, i32) -> ()
	local.get 1
	i32.load 0
	global.set __stack_pointer
	local.get 0
	local.get 1
	call thread_main
	end_function
