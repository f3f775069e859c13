"""matplotlib figures. Every function returns a Figure (or takes/returns Axes) and never calls
``plt.show()``; one module per area."""
from .metrics import *  # noqa: F401,F403
from .clv import *  # noqa: F401,F403
from .survival import *  # noqa: F401,F403
from .impact import *  # noqa: F401,F403
from .event_study import *  # noqa: F401,F403
from .monitor import *  # noqa: F401,F403
from .targeting import *  # noqa: F401,F403
