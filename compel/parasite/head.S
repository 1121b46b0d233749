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

	/* flk_sigreturn(frame_uc): switch to the saved victim frame and return to it. */
	.text
	.globl flk_sigreturn
	.type flk_sigreturn, @function
flk_sigreturn:
	movq	%rdi, %rsp
	movl	$15, %eax
	syscall
	ud2
	.section .note.GNU-stack, "", @progbits
