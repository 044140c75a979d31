"""`python -m evrt.graph.worker_main`: a worker process reading its pickled WorkerSpec from stdin.

Workers are fresh interpreters (not multiprocessing), so a user's script is never
re-imported and needs no `if __name__ == "__main__"` guard.
"""

from evrt.graph.worker import main

if __name__ == "__main__":
    main()
