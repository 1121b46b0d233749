/* Parasite entry, at offset 0 of the blob. The injector sets rip = blob start,
 * rsp = top of the parasite stack (inside our mapping) and rdi = args address. */
	.section .head.text, "ax"
	.globl __flk_parasite_head
	.type __flk_parasite_head, @function
__flk_parasite_head:
	andq	$-16, %rsp
	call	flk_parasite_main
	/* flk_parasite_main never returns: it ends in rt_sigreturn or waits to be
	 * taken over. Trap loudly if it ever does. */
	ud2

	/* flk_unmap_and_return(syscall_ret, return_frame, base, size): munmap(base, size)
	 * from the victim's own `syscall; ret`, whose `ret` pops the return frame's
	 * pretcode (rt_sigreturn). No byte of this mapping runs after the munmap. */
	.text
	.globl flk_unmap_and_return
	.type flk_unmap_and_return, @function
flk_unmap_and_return:
	movq	%rsi, %rsp
	movq	%rdi, %r11
	movq	%rdx, %rdi
	movq	%rcx, %rsi
	movl	$11, %eax
	jmp	*%r11
	.section .note.GNU-stack, "", @progbits
