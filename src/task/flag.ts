/** The flag that starts the executable (or the entry file) as a task process. */
export const TASK_CHILD_FLAG = '--task-child';
